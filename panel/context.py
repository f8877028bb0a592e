"""What every panel screen gets: the shared :class:`tapin.ui.context.ScreenContext`,
whose actions are the panel's controller, for the panel's room."""

from __future__ import annotations

from dataclasses import dataclass

from panel.controller import PanelController
from tapin.ui.context import ScreenContext

__all__ = ["PanelContext"]


@dataclass
class PanelContext(ScreenContext):
    @property
    def controller(self) -> PanelController:
        assert isinstance(self.actions, PanelController)
        return self.actions

    @property
    def room(self) -> str:
        """The panel's room id."""
        return self.controller.room_id
