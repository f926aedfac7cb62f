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
once it has emitted the log lines written before it, and the frame. Waiting for
that byte keeps log lines and outputs in the order they were written. Outside
VisualBox (no descriptors) outputs are printed to stdout.

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


def _write_frame(tag: bytes, payload: bytes) -> None:
    header = (len(payload) + 1).to_bytes(4, "big") + tag
    frame = memoryview(header + payload)
    with _lock:
        _flush_logs()
        while frame:
            frame = frame[_os.write(_out_fd, frame) :]
        if _ack_fd >= 0:
            _os.read(_ack_fd, 1)  # the supervisor has emitted the frame (b"" once it is gone)


def output(value: object) -> None:
    """Send one data model to the dashboard, in call order.

    A ``str`` is sent as text and arrives as that string (unless it is the JSON
    text of an object or an array, which arrives parsed); anything else must be
    JSON-serialisable (dicts, lists, numbers, booleans, ``None``) and is sent as
    compact JSON. Raises ``TypeError`` for a value that is not (for example a
    ``set`` or NaN). Returns once the supervisor has taken the output in.
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
    del _ack_text
    _write_frame(b"I", b"")
else:
    _sys.stderr.write("visualbox: not running under VisualBox; output() prints to stdout\n")
del _fd_text
