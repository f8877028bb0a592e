"""A local control socket, so ``tapin status`` and ``tapin queue`` can ask a running
agent or panel (which holds the queue file exclusively) for its state.

``<state>/control.sock`` is a Unix socket with mode 0600 in the root-only state
directory: one JSON request line, one JSON answer line. Only read-only questions are
answered (``status``, ``queue``) plus ``sync`` (drain and refresh now). Answers carry
routing fields and counts, never payloads or personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["SOCKET_NAME", "ControlServer", "ask"]

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
_MAX_REQUEST = 4096
Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class ControlServer:
    def __init__(self, state_dir: Path, handlers: dict[str, Handler]) -> None:
        self.path = state_dir / SOCKET_NAME
        self.handlers = handlers
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            answer: Any
            try:
                request = json.loads(line[:_MAX_REQUEST])
                handler = self.handlers[request["cmd"]]
            except (ValueError, KeyError, TypeError):
                answer = {"error": f"unknown request; ask one of {sorted(self.handlers)}"}
            else:
                answer = await handler(request)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:  # a bug must not take the device down with it
            log.exception("control request failed")
        finally:
            writer.close()


async def ask(state_dir: Path, cmd: str, timeout: float = 30.0) -> Any | None:
    """Ask the running process; ``None`` when nothing is listening."""
    path = state_dir / SOCKET_NAME
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout=3)
    except (FileNotFoundError, ConnectionRefusedError, TimeoutError, PermissionError):
        return None
    try:
        writer.write(json.dumps({"cmd": cmd}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=timeout)
        return json.loads(line) if line else None
    finally:
        writer.close()
