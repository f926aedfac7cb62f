"""Outbound networking for a sandbox: slirp4netns plus egress rules in its netns.

The sandbox always gets its own network namespace. For ``network="outbound"``
:class:`SlirpNetwork` connects it to the internet through slirp4netns (a
user-mode TCP/IP stack: no privileges, no host interface) while bubblewrap
waits on its block fd, and loads egress rules *inside* the namespace before
the command starts:

* loopback, and DNS (udp/tcp 53) to slirp's resolver ``10.0.2.3``, are allowed;
* ``10.0.2.2:PORT`` (slirp's alias of the host's ``127.0.0.1``) is allowed for
  each ``allow_host_ports`` port only; slirp4netns gets
  ``--disable-host-loopback`` when there is none;
* the operator's ``allow_networks`` (LAN hosts or subnets, say a sensor gateway)
  are allowed, except the host's own addresses in them;
* private, link-local, loopback, CGNAT, multicast and reserved ranges, every
  subnet the host itself is on and every address of the host itself (a public
  ``/32`` has no subnet route) are rejected, so host and LAN services stay out
  of reach; IPv6 allows loopback only.

The namespace is owned by bubblewrap's user namespace, which is found with the
``NS_GET_USERNS`` ioctl (joining the child's own user namespace races with the
one bubblewrap nests later). The sandboxed code cannot change the rules: it
has no capabilities in that user namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
import shutil
import socket
import struct
import tempfile
from collections.abc import Sequence

from .base import SandboxUnavailable

__all__ = [
    "SLIRP_DNS",
    "SLIRP_HOST",
    "SlirpNetwork",
    "egress_rules",
    "find_tool",
    "host_addresses",
    "host_subnets",
    "parse_allowed_network",
]

SLIRP_HOST = "10.0.2.2"
"""Address at which the sandbox reaches the host's loopback (allowed ports only)."""
SLIRP_DNS = "10.0.2.3"
"""slirp4netns's DNS forwarder; the sandbox's resolv.conf points at it."""

NS_GET_USERNS = 0xB701
BLOCKED_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
NEVER_ALLOWED_V4 = (
    "0.0.0.0/8",
    "10.0.2.0/24",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
"""What no allow-list entry may overlap: slirp's own subnet (10.0.2.2 is the host's
loopback), loopback, link-local (cloud metadata), multicast and reserved ranges."""
INSTALL_ADVICE = "apt-get install bubblewrap slirp4netns iptables (Fedora: dnf install ...)"
_READY_TIMEOUT_S = 10.0


def host_subnets() -> list[ipaddress.IPv4Network]:
    """The IPv4 subnets the host routes to directly (from ``/proc/net/route``)."""
    found = []
    with contextlib.suppress(OSError):
        with open("/proc/net/route") as f:
            next(f, None)
            for line in f:
                cols = line.split()
                dest, mask = (socket.inet_ntoa(struct.pack("<I", int(c, 16))) for c in cols[1:8:6])
                if mask != "0.0.0.0":
                    found.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    return found


def host_addresses() -> list[ipaddress.IPv4Address]:
    """The host's own IPv4 addresses (``host LOCAL`` entries of ``/proc/net/fib_trie``).

    slirp4netns connects *from the host*, so any of these reaches services the
    host listens on with a wildcard address, even one on no subnet route (a
    public ``/32`` with an on-link gateway, as many cloud hosts have).
    """
    found: dict[ipaddress.IPv4Address, None] = {}
    last = ""
    with contextlib.suppress(OSError):
        with open("/proc/net/fib_trie") as f:
            for line in f:
                text = line.strip()
                if text.startswith("|-- "):
                    last = text[4:]
                elif text.startswith("/32 host LOCAL") and last:
                    found[ipaddress.IPv4Address(last)] = None
    return list(found)


def parse_allowed_network(text: str) -> ipaddress.IPv4Network:
    """An ``allow_networks`` entry (``192.168.1.20`` or ``192.168.1.0/24``); ``ValueError``
    naming the reason when it is not an IPv4 network or overlaps a never-allowed range."""
    try:
        net = ipaddress.IPv4Network(text.strip(), strict=False)
    except ValueError:
        reason = f"{text!r} is not an IPv4 address or network such as 192.168.1.0/24"
        raise ValueError(reason) from None
    for never in NEVER_ALLOWED_V4:
        if net.overlaps(ipaddress.IPv4Network(never)):
            raise ValueError(f"{text!r} overlaps {never}, which integrations may never reach")
    return net


def egress_rules(
    allow_host_ports: Sequence[int], allow_networks: Sequence[str] = ()
) -> tuple[str, str]:
    """``iptables-restore`` and ``ip6tables-restore`` input for the sandbox's netns."""
    v4 = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    v4.append("-A OUTPUT -o lo -j ACCEPT")
    for proto in ("udp", "tcp"):
        v4.append(f"-A OUTPUT -d {SLIRP_DNS}/32 -p {proto} --dport 53 -j ACCEPT")
    for port in sorted({int(p) for p in allow_host_ports}):
        if not 0 < port < 65536:
            raise ValueError(f"not a TCP port: {port}")
        v4.append(f"-A OUTPUT -d {SLIRP_HOST}/32 -p tcp --dport {port} -j ACCEPT")
    allowed = list(dict.fromkeys(parse_allowed_network(n) for n in allow_networks))
    addresses = host_addresses()
    if allowed:
        # The host itself stays out of reach, even inside an allowed LAN.
        for address in addresses:
            if any(address in net for net in allowed):
                v4 += _reject(f"{address}/32")
        for accepted in allowed:
            v4.append(f"-A OUTPUT -d {accepted} -j ACCEPT")
    nets = [ipaddress.IPv4Network(n) for n in BLOCKED_V4] + host_subnets()
    own = [a for a in addresses if not any(a in n for n in nets)]
    blocked = dict.fromkeys([*(str(n) for n in nets), *(f"{a}/32" for a in own)])
    for destination in blocked:
        v4 += _reject(destination)
    v4.append("COMMIT")
    v6 = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    v6 += ["-A OUTPUT -o lo -j ACCEPT", "-A OUTPUT -j REJECT", "COMMIT"]
    return "\n".join(v4) + "\n", "\n".join(v6) + "\n"


def find_tool(name: str) -> str:
    """The path of the system tool ``name`` (also looked up in the sbin folders)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise SandboxUnavailable(f"the sandbox needs `{name}`: {INSTALL_ADVICE}")
    return path


def check_tools() -> None:
    """Raise :class:`SandboxUnavailable` unless the outbound-network tools are installed."""
    for name in ("slirp4netns", "nsenter", "iptables-restore", "ip6tables-restore"):
        find_tool(name)


async def wait_readable(fd: int, timeout_s: float) -> bool:
    """Wait until ``fd`` is readable (or at end of file / a pidfd's process ended);
    False when ``timeout_s`` ran out first."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_ready() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_ready)
    try:
        await asyncio.wait_for(ready, timeout_s)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
    return True


async def _read_byte(fd: int, timeout_s: float) -> bytes:
    """One byte from ``fd`` (b"" at end of file or after ``timeout_s``)."""
    os.set_blocking(fd, False)
    return os.read(fd, 1) if await wait_readable(fd, timeout_s) else b""


def _reject(destination: str) -> list[str]:
    """Refuse TCP with a reset (a quick "connection refused") and the rest with ICMP."""
    return [
        f"-A OUTPUT -d {destination} -p tcp -j REJECT --reject-with tcp-reset",
        f"-A OUTPUT -d {destination} -j REJECT --reject-with icmp-admin-prohibited",
    ]


class SlirpNetwork:
    """slirp4netns attached to one sandbox; :meth:`close` stops it."""

    def __init__(self, proc: asyncio.subprocess.Process, exit_w: int) -> None:
        self._proc = proc
        self._exit_w = exit_w

    @classmethod
    async def attach(
        cls, child_pid: int, allow_host_ports: Sequence[int], allow_networks: Sequence[str] = ()
    ) -> SlirpNetwork:
        """Connect the netns of ``child_pid`` and load the egress rules into it."""
        rules_v4, rules_v6 = egress_rules(allow_host_ports, allow_networks)
        netfd = os.open(f"/proc/{child_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        fds: list[int] = [netfd]
        try:
            userfd = fcntl.ioctl(netfd, NS_GET_USERNS)
            fds.append(userfd)
            ready_r, ready_w = os.pipe()
            exit_r, exit_w = os.pipe()
            fds += [ready_r, ready_w, exit_r]
            argv = [find_tool("slirp4netns"), "--configure", "--mtu=65520"]
            argv += ["--enable-sandbox", "--enable-seccomp", "--netns-type=path"]
            if not allow_host_ports:
                argv.append("--disable-host-loopback")
            argv += [f"--userns-path=/proc/self/fd/{userfd}", f"--ready-fd={ready_w}"]
            argv += [f"--exit-fd={exit_r}", f"/proc/self/fd/{netfd}", "tap0"]
            log = tempfile.TemporaryFile()
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(netfd, userfd, ready_w, exit_r),
            )
            net = cls(proc, exit_w)
            os.close(ready_w)
            fds.remove(ready_w)
            try:
                if await _read_byte(ready_r, _READY_TIMEOUT_S) != b"1":
                    log.seek(0)
                    raise SandboxUnavailable(
                        "slirp4netns failed: " + log.read().decode(errors="replace")[-2000:]
                    )
                await _load_rules(netfd, userfd, rules_v4, rules_v6)
            except BaseException:
                await net.close()
                raise
            finally:
                log.close()
            return net
        finally:
            for fd in fds:
                os.close(fd)

    async def close(self) -> None:
        """Stop slirp4netns (closing its exit fd; SIGKILL if it lingers)."""
        if self._exit_w >= 0:
            os.close(self._exit_w)
            self._exit_w = -1
        try:
            await asyncio.wait_for(self._proc.wait(), 1.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()


async def _load_rules(netfd: int, userfd: int, rules_v4: str, rules_v6: str) -> None:
    argv = [find_tool("nsenter"), f"--net=/proc/self/fd/{netfd}"]
    if os.geteuid() != 0:
        argv += [f"--user=/proc/self/fd/{userfd}", "--preserve-credentials"]
    script = (
        f"{find_tool('iptables-restore')} <<'EOF4'\n{rules_v4}EOF4\n"
        f"{find_tool('ip6tables-restore')} <<'EOF6'\n{rules_v6}EOF6\n"
    )
    proc = await asyncio.create_subprocess_exec(
        *argv,
        "/bin/sh",
        "-c",
        script,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        pass_fds=(netfd, userfd),
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise SandboxUnavailable(
            f"could not load the sandbox's egress rules ({INSTALL_ADVICE}): "
            + out.decode(errors="replace")[-2000:]
        )
