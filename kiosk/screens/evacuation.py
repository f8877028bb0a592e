"""Reception's evacuation list (behind the admin PIN): every visitor signed in now,
with their company, host and since when, from the kiosk's memory (central's last
``visitors`` snapshot and this kiosk's own sign-ins), so it works offline. Left by
Back, or by itself when nobody touches it (the kiosk's idle prompt).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty

from kiosk.context import KioskContext
from tapin.i18n import _, ngettext
from tapin.timefmt import clock
from tapin.ui.kit import TapinScreen

__all__ = ["EvacuationScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class EvacuationScreen(TapinScreen):
    heading = StringProperty("")
    note = StringProperty("")
    count = NumericProperty(0)

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "evacuation")
        super().__init__(**kwargs)
        self.ctx = ctx
        self.lines: list[tuple[str, str, str, str]] = []
        """What is shown: name, company, host, since (for tests)."""

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        from kivy.factory import Factory

        runtime = self.ctx.runtime
        controller = self.ctx.controller
        zone = runtime.site.timezone
        lines = []
        for row in controller.on_site():
            person = runtime.directory.get(row.host_id) if row.host_id else None
            host = person.name if person is not None else _("No host (reception)")
            since = clock(row.since, zone, h24=runtime.h24)
            lines.append((row.name, row.company, host, since))
        self.count = len(lines)
        self.heading = ngettext(
            "{n} visitor in the building", "{n} visitors in the building", len(lines)
        ).format(n=len(lines))
        offline = controller.offline()
        self.note = (
            _("Offline: from this kiosk's memory. Sign-ins at other kiosks may be missing.")
            if offline
            else _("From central's list and this kiosk, updated every few seconds.")
        )
        if lines == self.lines:
            return
        self.lines = lines
        grid = self.ids.rows
        grid.clear_widgets()
        for name, company, host, since in lines:
            row = Factory.EvacuationRow()
            row.unit, row.portrait = self.unit, self.portrait
            row.ids.name.text = name
            row.ids.company.text = company
            row.ids.host.text = _("Host: {host}").format(host=host)
            row.ids.since.text = since
            grid.add_widget(row)

    def on_portrait(self, *_args: Any) -> None:
        self.lines = []  # made again for the new shape
        if self.manager is not None:
            self.refresh()

    def reset(self) -> None:
        self.ids.rows.clear_widgets()
        self.lines = []
