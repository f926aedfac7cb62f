"""The server's end of the launcher channel: one connection carries a whole run.

Sandboxes that pass no file descriptors (gVisor's ``runsc``, a Kubernetes pod) run
the in-sandbox launcher (``sdk/launcher/visualbox_launcher.py``, which documents the
record format) in front of the integration. The launcher opens the channel itself
and relays the integration's frames and log bytes over it, in the order they were
written; :func:`serve_channel` sends the config and turns the records back into the
messages the supervisor emits for a local run: STATUS lines, INIT and OUTPUT, with
the same rate limits, size cap and output budget (``channel.py``), each frame
answered once its message was emitted.

Locally the channel is a Unix socket in a private directory bind-mounted into the
sandbox at ``layout.CHANNEL_DIR`` (:class:`ChannelSocket`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import struct
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from visualbox.runtime.channel import Emit, FrameReader, LineSplitter, TokenBucket
from visualbox.runtime.layout import CHANNEL_DIR
from visualbox.runtime.messages import StatusLevel, error
from visualbox.runtime.sandbox.base import Mount
from visualbox.settings import SandboxSettings

__all__ = [
    "ChannelSocket",
    "record",
    "serve_channel",
]

HEADER = struct.Struct(">cI")
LOG_RECORD_MAX = 1024 * 1024
"""A log record larger than this is not from our launcher (it sends 64 KiB chunks)."""
_LEVELS = {b"1": StatusLevel.INFO, b"2": StatusLevel.ERROR}


def record(kind: bytes, payload: bytes = b"") -> bytes:
    """One record of the channel: kind, 4-byte big-endian length, payload."""
    return HEADER.pack(kind, len(payload)) + payload


async def serve_channel(
    reader: asyncio.StreamReader,
    write: Callable[[bytes], None],
    config: Mapping[str, Any],
    emit: Emit,
    *,
    settings: SandboxSettings,
    output_budget: Any = None,
    emit_frame: Emit | None = None,
) -> None:
    """Send ``config``, then emit the run's messages in order until the stream ends.

    ``emit`` gets log lines and the channel's own problems, ``emit_frame`` (default:
    ``emit``) INIT and OUTPUT. Output bytes are taken from ``output_budget`` (an
    :class:`~visualbox.runtime.channel.OutputBudget`) before a frame is read.
    """
    emit_frame = emit_frame or emit
    data = json.dumps(dict(config), separators=(",", ":"), ensure_ascii=False).encode()
    write(record(b"C", data))
    lines = TokenBucket(settings.log_rate, settings.log_burst)
    outputs = TokenBucket(settings.output_rate, settings.output_burst)
    frames = FrameReader(reader, settings.output_max_bytes, emit, output_budget)
    splitters = {kind: LineSplitter(level) for kind, level in _LEVELS.items()}
    try:
        while True:
            try:
                kind, size = HEADER.unpack(await reader.readexactly(HEADER.size))
            except asyncio.IncompleteReadError:
                return
            if kind == b"F":
                await outputs.take()
                message = await frames.read(size)
                if message is None:
                    return
                emit_frame(message)
                write(record(b"A"))
                await frames.pause()
            elif kind in splitters and size <= LOG_RECORD_MAX:
                chunk = await reader.readexactly(size)
                for line in splitters[kind].feed(chunk):
                    await lines.take()
                    emit(line)
            elif kind == b"E" and size <= LOG_RECORD_MAX:
                text = (await reader.readexactly(size)).decode("utf-8", "replace")
                emit(error(text))
            else:
                emit(error(f"visualbox: the launcher channel sent an unknown record {kind!r}"))
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return  # the sandbox ended (a killed launcher resets its socket)
    finally:
        for splitter in splitters.values():
            for line in splitter.end():
                emit(line)


class ChannelSocket:
    """A listening Unix socket in a private directory, for one sandboxed launcher.

    The directory is mounted at ``layout.CHANNEL_DIR``; only ``owner`` (the sandboxed
    code's host uid and gid, when it is not ours) may connect. :meth:`accept` takes the
    launcher's connection; :meth:`close` removes everything."""

    def __init__(self, owner: tuple[int, int] | None = None) -> None:
        # The outer directory is ours alone (0700): nobody else on the host can reach
        # the socket. The sandbox sees only the inner one, owned by its code's ids.
        self._outer = Path(tempfile.mkdtemp(prefix="visualbox-channel-"))
        self.dir = self._outer / "channel"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.dir.mkdir(mode=0o700)
            path = self.dir / "channel"
            self._listener.bind(str(path))
            self._listener.listen(1)
            self._listener.setblocking(False)
            os.chmod(path, 0o600)
            if owner is not None:
                os.chown(self.dir, *owner)
                os.chown(path, *owner)
        except BaseException:
            self.close()
            raise

    @property
    def mount(self) -> Mount:
        return Mount(self.dir, CHANNEL_DIR)

    async def accept(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Wait for the launcher to connect (one connection; the listener closes)."""
        return await asyncio.open_connection(sock=await self.accept_socket(), limit=64 * 1024)

    async def accept_socket(self) -> socket.socket:
        """Wait for the one connection; returned in blocking mode."""
        conn, _ = await asyncio.get_running_loop().sock_accept(self._listener)
        self._listener.close()
        conn.setblocking(True)
        return conn

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        shutil.rmtree(self._outer, ignore_errors=True)
