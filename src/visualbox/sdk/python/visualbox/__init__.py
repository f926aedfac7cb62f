"""The VisualBox SDK for Python integrations.

    import visualbox
    level = visualbox.MODEL["level"]       # config values (``visualbox.config`` is the same dict)
    visualbox.output({"temperature": 21})  # one data model for the dashboard

The supervisor passes inherited file descriptors whose *numbers* are in the
environment: ``VISUALBOX_CONFIG_FD`` (a memfd holding the config as JSON),
``VISUALBOX_OUTPUT_FD`` (the write end of a pipe) and ``VISUALBOX_ACK_FD`` (the
read end of a pipe). Each frame on the output pipe is a 4-byte big-endian length,
then a tag byte (``I`` = INIT, ``T`` = OUTPUT of a string, ``O`` = OUTPUT of JSON)
and the payload; the supervisor answers each frame with one byte on the ack pipe
once it has emitted the log lines written before it, and the frame. Before a
line is written to ``sys.stdout`` or ``sys.stderr`` (``print``, ``logging``) the
SDK waits for the answers to every frame sent so far, which keeps log lines and
outputs in the order they were written; outputs with no line between them wait
only when ``_WINDOW`` of them are unanswered. Outside VisualBox (no
descriptors) outputs are printed to stdout.

Start-up matters: this module imports only ``os``, ``json`` and ``_thread``.
"""

from __future__ import annotations

import _thread
import json as _json
import os as _os
import sys as _sys

__all__ = ["MODEL", "config", "output"]
__version__ = "1"

_lock = _thread.allocate_lock()
_out_fd = -1
_ack_fd = -1
_unanswered = 0
_WINDOW = 64
"""Frames sent without waiting for their answers (the supervisor reads them in a batch)."""


def _read_config() -> dict[str, object]:
    fd_text = _os.environ.get("VISUALBOX_CONFIG_FD")
    if not fd_text:
        return {}
    fd = int(fd_text)
    try:
        size = _os.fstat(fd).st_size
        data = b""
        while len(data) < size:
            chunk = _os.pread(fd, size - len(data), len(data))
            if not chunk:
                break
            data += chunk
    finally:
        _os.close(fd)
    value = _json.loads(data.decode("utf-8")) if data else {}
    if not isinstance(value, dict):
        raise RuntimeError("visualbox: the config is not a JSON object")
    return value


def _flush_logs() -> None:
    """Write out what ``print()`` holds, so the lines written so far precede the frame."""
    for stream in (_sys.stdout, _sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: nothing to keep in order
            pass


def _take_answers(most: int) -> None:
    """Wait (holding ``_lock``) until at most ``most`` frames are unanswered."""
    global _ack_fd, _unanswered
    while _unanswered > most:
        got = _os.read(_ack_fd, _unanswered)
        if not got:  # the supervisor is gone: nothing left to keep in order
            _ack_fd, _unanswered = -1, 0
            return
        _unanswered -= len(got)


def _write_frame(tag: bytes, payload: bytes) -> None:
    global _unanswered
    header = (len(payload) + 1).to_bytes(4, "big") + tag
    frame = memoryview(header + payload)
    with _lock:
        _flush_logs()
        while frame:
            frame = frame[_os.write(_out_fd, frame) :]
        if _ack_fd >= 0:
            _unanswered += 1
            _take_answers(_WINDOW - 1)


class _InOrder:
    """``sys.stdout``/``sys.stderr``: a line waits until the frames sent before it are
    answered (emitted), so it cannot overtake an output."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _unanswered:
            with _lock:
                _take_answers(0)
        return self._stream.write(text)  # type: ignore[attr-defined, no-any-return]

    def writelines(self, lines: object) -> None:
        for line in lines:  # type: ignore[attr-defined]
            self.write(line)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def output(value: object) -> None:
    """Send one data model to the dashboard, in call order.

    A ``str`` is sent as text and arrives as that string (unless it is the JSON
    text of an object or an array, which arrives parsed); anything else must be
    JSON-serialisable (dicts, lists, numbers, booleans, ``None``) and is sent as
    compact JSON. Raises ``TypeError`` for a value that is not (for example a
    ``set`` or NaN).
    """
    tag = b"O"
    if isinstance(value, str):
        tag, payload = b"T", value.encode("utf-8", "surrogatepass")
    else:
        try:
            text = _json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                "visualbox.output() needs a str or a JSON-serialisable value "
                "(dict, list, str, int, float, bool, None): " + str(exc)
            ) from None
        payload = text.encode("utf-8")
    if _out_fd < 0:
        _sys.stdout.write(payload.decode("utf-8") + "\n")
        return
    _write_frame(tag, payload)


MODEL = _read_config()
config = MODEL

_fd_text = _os.environ.get("VISUALBOX_OUTPUT_FD")
if _fd_text:
    _out_fd = int(_fd_text)
    _os.set_inheritable(_out_fd, False)
    _ack_text = _os.environ.get("VISUALBOX_ACK_FD")
    if _ack_text:
        _ack_fd = int(_ack_text)
        _os.set_inheritable(_ack_fd, False)
        if _sys.stdout is not None:
            _sys.stdout = _InOrder(_sys.stdout)
        if _sys.stderr is not None:
            _sys.stderr = _InOrder(_sys.stderr)
    del _ack_text
    _write_frame(b"I", b"")
else:
    _sys.stderr.write("visualbox: not running under VisualBox; output() prints to stdout\n")
del _fd_text
