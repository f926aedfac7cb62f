"""The launcher in a Kubernetes pod (``visualbox_launcher.py --pod``). Standard library only.

A pod carries no config value and no source. At boot it reads two variables,
``VISUALBOX_CHANNEL_URL`` (the ``ws://`` or ``wss://`` channel endpoint of the server
node that runs its instance) and ``VISUALBOX_POD_TOKEN`` (single use: it lets this
pod open that channel once, before it expires, and nothing else), opens a WebSocket
to the endpoint and waits for its assignment (a warm pod may wait long). Then, on
that one connection, in the launcher's record framing (kind byte, 4-byte big-endian
length, payload):

* ``P``: the assignment, JSON: the run token, the source archive's URL, the argv,
  environment and working directory the runtime needs (``layout.run_spec``), and
  whether prepared dependencies follow;
* ``D`` chunks of a tar of ``/deps``, then an empty ``d`` (only when they follow);
* then the launcher's own records (the config first): see ``visualbox_launcher.py``.

The pod fetches the source archive with the run token (``Authorization: Bearer``)
into ``/app``, unpacks the dependencies into ``/deps`` (both refuse any path that
leaves their folder), then bridges the WebSocket to one end of a socket pair with
two threads and runs ``relay()`` on the other end. It exits with the integration's
status (70 when it could not start it).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import ssl
import stat
import struct
import sys
import tarfile
import threading
import urllib.parse
import urllib.request
import zipfile
from typing import Any

from visualbox_launcher import EX_SOFTWARE, HEADER, relay

APP = "/app"
DEPS = "/deps"
MAX_MESSAGE = 16 * 1024 * 1024
MAX_ARCHIVE = 256 * 1024 * 1024
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket:
    """A minimal RFC 6455 client: binary messages, masked frames, ping and close."""

    def __init__(self, sock: socket.socket, rest: bytes) -> None:
        self._sock = sock
        self._buffer = rest
        self._send_lock = threading.Lock()
        self.closed = False

    @classmethod
    def connect(cls, url: str, token: str) -> WebSocket:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((parts.hostname, port), timeout=30)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        key = base64.b64encode(os.urandom(16)).decode()
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        request = (
            f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
            f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk or len(head) > 65536:
                raise ConnectionError("the server closed the connection during the handshake")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if lines[0].split(" ")[1:2] != ["101"]:
            raise ConnectionError(f"the server refused the channel: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise ConnectionError("the server's handshake answer is wrong")
        sock.settimeout(None)
        return cls(sock, rest)

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = os.urandom(4)
        return head + mask + _mask(payload, mask)

    def send(self, payload: bytes, opcode: int = 2) -> None:
        with self._send_lock:
            self._sock.sendall(self._frame(opcode, payload))

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._sock.recv(max(65536, size - len(self._buffer)))
            if not chunk:
                raise ConnectionError("the channel closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def receive(self) -> bytes | None:
        """The next data message; None once the server closed the channel."""
        message = b""
        while not self.closed:
            first, second = self._read(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self._read(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", self._read(8))
            if size > MAX_MESSAGE or len(message) + size > MAX_MESSAGE:
                raise ConnectionError("a channel message is too large")
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(size)
            if mask:
                payload = _mask(payload, mask)
            if opcode == 8:  # close: answer it
                self.closed = True
                try:
                    self.send(payload[:2], 8)
                except OSError:
                    pass
                return None
            if opcode == 9:
                self.send(payload, 10)
                continue
            if opcode == 10:
                continue
            message += payload
            if first & 0x80:
                return message
        return None

    def close(self) -> None:
        try:
            self.send(struct.pack("!H", 1000), 8)
        except OSError:
            pass

    def shutdown(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def _mask(data: bytes, mask: bytes) -> bytes:
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


class Records:
    """The records the server sends before the launcher's own, read off the WebSocket."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.buffer = b""

    def _need(self, size: int) -> None:
        while len(self.buffer) < size:
            message = self.ws.receive()
            if message is None:
                raise ConnectionError("the server closed the channel before the run started")
            self.buffer += message

    def next(self) -> tuple[bytes, bytes]:
        self._need(HEADER.size)
        kind, size = HEADER.unpack(self.buffer[: HEADER.size])
        self._need(HEADER.size + size)
        payload = self.buffer[HEADER.size : HEADER.size + size]
        self.buffer = self.buffer[HEADER.size + size :]
        return kind, payload


class _DepsStream(io.RawIOBase):
    """The ``D`` records as a readable stream (ends at ``d``)."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._chunk = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._chunk and not self._ended:
            kind, payload = self._records.next()
            if kind == b"d":
                self._ended = True
            elif kind == b"D":
                self._chunk = payload
            else:
                raise ValueError(f"unexpected {kind!r} record among the dependencies")
        size = min(len(target), len(self._chunk))
        target[:size] = self._chunk[:size]
        self._chunk = self._chunk[size:]
        return size


def _inside(root: str, name: str) -> str:
    """The path of archive member ``name`` under ``root``; refuses one that leaves it."""
    clean = name.replace("\\", "/")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if clean.startswith("/") or ".." in parts or not parts:
        raise ValueError(f"refusing the archive member {name!r}: it leaves {root}")
    path = os.path.join(root, *parts)
    parent = os.path.realpath(os.path.dirname(path))
    if parent != os.path.realpath(root) and not parent.startswith(os.path.realpath(root) + "/"):
        raise ValueError(f"refusing the archive member {name!r}: it leaves {root}")
    return path


def unpack_zip(data: bytes, root: str) -> None:
    """Unpack the source archive into ``root`` (files and folders only)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = _inside(root, info.filename)
            if info.is_dir():
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.open(info) as source, _create(path, 0o644) as target:
                while chunk := source.read(65536):
                    target.write(chunk)


def unpack_tar(stream: io.RawIOBase, root: str) -> None:
    """Unpack the dependencies' tar stream into ``root``: files (mode kept, without
    set-id bits), folders and symlinks; nothing is written outside ``root``."""
    with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as tar:
        for member in tar:
            path = _inside(root, member.name)
            if member.isdir():
                os.makedirs(path, exist_ok=True)
            elif member.issym():
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.symlink(member.linkname, path)
            elif member.isreg():
                os.makedirs(os.path.dirname(path), exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, _create(path, member.mode & 0o755 | stat.S_IRUSR) as target:
                    while chunk := source.read(65536):
                        target.write(chunk)


def _create(path: str, mode: int) -> io.BufferedWriter:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, mode), "wb")


def fetch(url: str, token: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (our server)
        data: bytes = response.read(MAX_ARCHIVE + 1)
    if len(data) > MAX_ARCHIVE:
        raise ValueError("the source archive is too large")
    return data


def bridge(
    ws: WebSocket, sock: socket.socket, pending: bytes, chunk: int
) -> list[threading.Thread]:
    """Copy the WebSocket's messages to ``sock`` and what ``sock`` gives to the WebSocket
    (in messages of at most ``chunk`` bytes, what the server takes), each way in its own
    thread; a closed side ends the other's direction."""

    def inbound() -> None:
        try:
            if pending:
                sock.sendall(pending)
            while (message := ws.receive()) is not None:
                sock.sendall(message)
        except OSError:
            pass
        finally:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def outbound() -> None:
        try:
            while data := sock.recv(chunk):
                ws.send(data)
        except OSError:
            pass
        finally:
            ws.close()

    threads = [threading.Thread(target=t, daemon=True) for t in (inbound, outbound)]
    for thread in threads:
        thread.start()
    return threads


def main(args: list[str]) -> int:
    url = os.environ.get("VISUALBOX_CHANNEL_URL", "")
    token = os.environ.pop("VISUALBOX_POD_TOKEN", "")
    try:
        ws = WebSocket.connect(url, token)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"visualbox launcher: cannot open the channel {url}: {exc}\n")
        return int(EX_SOFTWARE)
    records = Records(ws)
    try:
        kind, payload = records.next()
        if kind != b"P":
            raise ValueError(f"expected the assignment first, got a {kind!r} record")
        job = json.loads(payload)
        unpack_zip(fetch(job["source"], job["token"]), APP)
        if job.get("deps"):
            deps = _DepsStream(records)
            unpack_tar(deps, DEPS)
            while deps.read(65536):  # tar stops at its end marker; the records go on to "d"
                pass
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
        problem = f"visualbox launcher: the pod could not set up its run: {exc}"
        sys.stderr.write(problem + "\n")
        try:
            ws.send(HEADER.pack(b"E", len(problem.encode())) + problem.encode())
            ws.close()
        except OSError:
            pass
        return int(EX_SOFTWARE)
    ours, theirs = socket.socketpair()
    chunk = max(1024, min(65536, int(job.get("chunk") or 65536)))
    threads = bridge(ws, ours, records.buffer, chunk)
    try:
        return int(
            relay(theirs, list(job["argv"]), dict(job["env"]), str(job.get("cwd") or "/work"))
        )
    finally:
        theirs.close()
        threads[1].join(5)
        ws.shutdown()
        ours.close()
