#!/usr/bin/env python3
"""The VisualBox launcher: runs an integration inside its sandbox and relays what it
does over one connection that the launcher opens itself.

Sandboxes that cannot hand a process inherited file descriptors (gVisor's ``runsc``,
a Kubernetes pod) run this launcher instead of the integration. The launcher opens
the channel (a Unix socket bind-mounted into the sandbox, or, in a pod, a WebSocket
to the server), receives the config, and starts the integration as its child exactly
as the supervisor would: the config in a sealed memfd, frames on a pipe, answers on
another, stdout and stderr on pipes (see ``runtime/channel.py`` and the SDKs). So the
SDKs are the same everywhere.

Records, both ways, on the one byte stream: one kind byte, a 4-byte big-endian
payload length, the payload.

==========  =========  ===================================================
direction   kind       payload
==========  =========  ===================================================
to server   ``F``      one SDK frame: its tag byte and payload
to server   ``1``      bytes the integration wrote to stdout
to server   ``2``      bytes it wrote to stderr
to server   ``E``      a problem of the launcher itself (UTF-8 text)
to sandbox  ``C``      the config as a JSON object (first, exactly once)
to sandbox  ``A``      empty: the server handled one ``F``
==========  =========  ===================================================

Order: before it sends a frame, the launcher sends every stdout and stderr byte that
was written before the frame was, so the server sees lines and outputs in the order
the integration wrote them. A slow server slows the integration (it blocks on its
pipes), nothing is buffered without bound. When the channel closes, the integration
is stopped. The launcher exits with the integration's status (128 + signal when a
signal ended it), or 70 when it could not start it.

Usage (local): ``python3 -s -S visualbox_launcher.py --channel unix:/run/visualbox/channel
-- ARGV...``. Standard library only: it runs on the sandbox's own Python.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys

HEADER = struct.Struct(">cI")
CHUNK = 64 * 1024
EX_SOFTWARE = 70
"""The launcher's own exit status when the integration could not be started."""
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
_FRAME_LENGTH = 4


class ChannelClosed(Exception):
    """The server closed the channel (or the launcher was told to stop)."""


def send(sock: socket.socket, kind: bytes, payload: bytes = b"") -> None:
    sock.sendall(HEADER.pack(kind, len(payload)) + payload)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ChannelClosed
        data += chunk
    return bytes(data)


def receive(sock: socket.socket) -> tuple[bytes, bytes]:
    """The next record from the server: ``(kind, payload)``."""
    kind, size = HEADER.unpack(_recv_exactly(sock, HEADER.size))
    return kind, _recv_exactly(sock, size)


def _config_memfd(payload: bytes) -> int:
    value = json.loads(payload.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("the config is not a JSON object")
    fd = os.memfd_create("visualbox-config", os.MFD_ALLOW_SEALING)
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    return fd


def _code(returncode: int) -> int:
    """An exit status as a shell reports it: 128 + signal when a signal ended it."""
    return 128 - returncode if returncode < 0 else returncode


class _Relay:
    """One integration's pipes and the channel, in one ``select`` loop."""

    def __init__(self, sock: socket.socket, frames: int, logs: list[tuple[int, bytes]], ack: int):
        self.sock = sock
        self.frames = frames
        self.logs = dict(logs)
        self.ack = ack
        self.pending = bytearray()  # the start of a frame (its length) read so far
        for fd in (frames, *self.logs):
            os.set_blocking(fd, False)
        os.set_blocking(ack, False)

    def _close(self, fd: int) -> None:
        os.close(fd)
        if fd == self.frames:
            self.frames = -1
        else:
            del self.logs[fd]

    def _forward_log(self, fd: int) -> bool:
        """Send what ``fd`` holds now (one chunk); False once it is empty or closed."""
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            return False
        if not chunk:
            self._close(fd)
            return False
        send(self.sock, self.logs[fd], chunk)
        return True

    def _catch_up(self) -> None:
        """Send every log byte written so far (called before a frame is sent)."""
        for fd in list(self.logs):
            while fd in self.logs and self._forward_log(fd):
                pass

    def _read_frame_start(self) -> None:
        try:
            chunk = os.read(self.frames, _FRAME_LENGTH - len(self.pending))
        except BlockingIOError:
            return
        if not chunk:
            self._close(self.frames)
            return
        self.pending += chunk
        if len(self.pending) < _FRAME_LENGTH:
            return
        size = int.from_bytes(self.pending, "big")
        self.pending.clear()
        self._catch_up()
        self.sock.sendall(HEADER.pack(b"F", size))
        os.set_blocking(self.frames, True)  # the rest of this frame follows at once
        try:
            while size:
                chunk = os.read(self.frames, min(size, CHUNK))
                if not chunk:  # the integration died inside a frame: pad it
                    self.sock.sendall(bytes(size))
                    self._close(self.frames)
                    return
                self.sock.sendall(chunk)
                size -= len(chunk)
        finally:
            if self.frames >= 0:
                os.set_blocking(self.frames, False)

    def _answer(self) -> None:
        kind, _ = receive(self.sock)
        if kind == b"A":
            try:
                os.write(self.ack, b"\x06")
            except (BlockingIOError, BrokenPipeError):
                pass  # an SDK that does not read its answers only stops getting them

    def run(self, child: subprocess.Popen[bytes]) -> int:
        """Relay until the integration ended and its pipes are drained."""
        try:
            ended: int | None = os.pidfd_open(child.pid)
        except (AttributeError, OSError):  # no pidfd: look now and then
            ended = None
        try:
            while True:
                readers: list[socket.socket | int] = [self.sock, *self.logs]
                if self.frames >= 0:
                    readers.append(self.frames)
                if ended is not None:
                    readers.append(ended)
                ready, _, _ = select.select(readers, [], [], 0.5 if ended is None else None)
                for fd in ready:
                    if fd is self.sock:
                        self._answer()
                    elif fd == self.frames:
                        self._read_frame_start()
                    elif fd in self.logs:
                        self._forward_log(fd)
                if child.poll() is not None:
                    # What is in the pipes now is sent; descendants holding them open
                    # do not keep the run alive.
                    self._drain_and_close()
                    return _code(child.returncode)
        finally:
            if ended is not None:
                os.close(ended)

    def _drain_and_close(self) -> None:
        while self.frames >= 0 and select.select([self.frames], [], [], 0)[0]:
            self._read_frame_start()
        if self.frames >= 0:
            self._close(self.frames)
        self._catch_up()
        for fd in list(self.logs):
            self._close(fd)


def relay(sock: socket.socket, argv: list[str], env: dict[str, str], cwd: str) -> int:
    """Receive the config on ``sock``, run ``argv`` with the SDK's descriptors and relay
    its frames and log bytes until it ended. Returns its exit status."""
    try:
        kind, payload = receive(sock)
        if kind != b"C":
            raise ValueError(f"expected the config first, got a {kind!r} record")
        config_fd = _config_memfd(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        send(sock, b"E", f"visualbox launcher: bad config: {exc}".encode())
        return EX_SOFTWARE
    frames_r, frames_w = os.pipe()
    ack_r, ack_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    child_env = dict(env)
    child_env.update(
        VISUALBOX_CONFIG_FD=str(config_fd),
        VISUALBOX_OUTPUT_FD=str(frames_w),
        VISUALBOX_ACK_FD=str(ack_r),
    )
    try:
        child = subprocess.Popen(
            argv,
            env=child_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            pass_fds=(config_fd, frames_w, ack_r),
            start_new_session=True,
        )
    except OSError as exc:
        send(sock, b"E", f"visualbox launcher: cannot start {argv[0]}: {exc}".encode())
        return EX_SOFTWARE
    finally:
        for fd in (config_fd, frames_w, ack_r, out_w, err_w):
            os.close(fd)

    def stop(signum: int, _frame: object) -> None:
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    pipes = _Relay(sock, frames_r, [(out_r, b"1"), (err_r, b"2")], ack_w)
    try:
        return pipes.run(child)
    except (ChannelClosed, OSError):  # the server is gone: so is the run
        stop(signal.SIGKILL, None)
        return _code(child.wait())
    finally:
        os.close(ack_w)


def _connect(target: str) -> socket.socket:
    scheme, _, path = target.partition(":")
    if scheme != "unix" or not path:
        raise SystemExit(f"visualbox launcher: --channel must be unix:PATH, not {target!r}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock


def main(args: list[str]) -> int:
    if args[:1] == ["--pod"]:
        import pod  # in the pod image, next to this file

        return int(pod.main(args[1:]))
    if len(args) < 4 or args[0] != "--channel" or args[2] != "--":
        sys.stderr.write("usage: visualbox_launcher.py --channel unix:PATH -- ARGV...\n")
        return 64
    try:
        sock = _connect(args[1])
    except OSError as exc:
        sys.stderr.write(f"visualbox launcher: cannot open the channel {args[1]}: {exc}\n")
        return EX_SOFTWARE
    with sock:
        return relay(sock, args[3:], dict(os.environ), os.getcwd())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
