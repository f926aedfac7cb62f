"""The cached prepare step, in the real sandbox, against loopback-only package sources."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.server
import io
import json
import os
import stat
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.harness import HOST_ALIAS, Collector, make_sandbox, module, run_async, settings
from visualbox.runtime import prepare
from visualbox.runtime.layout import ModuleSource
from visualbox.runtime.messages import RunState, StatusLevel
from visualbox.runtime.prepare import ToolLevels, cache_key
from visualbox.runtime.supervisor import Supervisor
from visualbox.settings import SandboxSettings

PY_MAIN = "import tinydep\nimport visualbox\nvisualbox.output(tinydep.VALUE)\n"


def _wheel(dest: Path, value: object = 42) -> None:
    files = {
        "tinydep/__init__.py": f"VALUE = {value!r}\n".encode(),
        "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinydep-1.0.dist-info/RECORD,,")
    files["tinydep-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(dest, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


@pytest.fixture(scope="module")
def index_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A PEP 503 simple index with one wheel, on host loopback."""
    root = tmp_path_factory.mktemp("index")
    (root / "files").mkdir()
    _wheel(root / "files" / "tinydep-1.0-py3-none-any.whl")
    (root / "simple" / "tinydep").mkdir(parents=True)
    (root / "simple" / "tinydep" / "index.html").write_text(
        '<a href="../../files/tinydep-1.0-py3-none-any.whl">tinydep-1.0-py3-none-any.whl</a>'
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _python_settings(port: int) -> SandboxSettings:
    return settings(allow_host_ports=[port], python_index_url=f"http://{HOST_ALIAS}:{port}/simple")


async def _start_all(
    sandbox_settings: SandboxSettings, cache: Path, sources: list[ModuleSource]
) -> list[Collector]:
    supervisor = Supervisor(make_sandbox(), sandbox_settings, cache)
    collectors = [Collector() for _ in sources]
    try:
        runs = [
            await supervisor.start(f"p{i}", source, {}, on_message=collectors[i])
            for i, source in enumerate(sources)
        ]
        await asyncio.gather(*(run.wait() for run in runs))
    finally:
        await supervisor.close()
    return collectors


def _entries(cache: Path, runtime: str) -> list[Path]:
    folder = cache / runtime
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_python_requirements_are_prepared_once_and_cached(tmp_path: Path, index_port: int) -> None:
    source = module(
        "python", tmp_path / "m", {"main.py": PY_MAIN, "requirements.txt": "tinydep==1.0\n"}
    )
    cache = tmp_path / "cache"
    (first,) = run_async(_start_all(_python_settings(index_port), cache, [source]))
    assert first.outputs == [42]
    assert first.states[0].state is RunState.PREPARING
    assert any(line.startswith("$ ") and "pip install" in line
               for line in first.statuses(StatusLevel.INFO))  # fmt: skip
    # uv reports its progress on stderr: information, not warnings.
    progress = [line for line in first.statuses(StatusLevel.INFO) if "1 package" in line]
    assert any(line.startswith("Resolved") for line in progress), first.messages
    assert any(line.startswith("Installed") for line in progress), first.messages
    assert not any("1 package" in line for line in first.statuses(StatusLevel.WARNING))
    (entry,) = _entries(cache, "python")
    inode = entry.stat().st_ino

    (second,) = run_async(_start_all(_python_settings(index_port), cache, [source]))
    assert second.outputs == [42]
    assert RunState.PREPARING not in [s.state for s in second.states]
    assert not any(line.startswith("$ ") for line in second.statuses(StatusLevel.INFO))
    assert _entries(cache, "python") == [entry] and entry.stat().st_ino == inode


def test_concurrent_starts_prepare_once(tmp_path: Path, index_port: int) -> None:
    files = {"main.py": PY_MAIN, "requirements.txt": "tinydep==1.0\n"}
    sources = [module("python", tmp_path / f"m{i}", files) for i in range(3)]
    cache = tmp_path / "cache"
    collectors = run_async(_start_all(_python_settings(index_port), cache, sources))
    assert [c.outputs for c in collectors] == [[42]] * 3
    installs = [
        line
        for c in collectors
        for line in c.statuses(StatusLevel.INFO)
        if line.startswith("$ ") and "pip install" in line
    ]
    assert len(installs) == 1
    assert len(_entries(cache, "python")) == 1


def test_failed_prepare_is_reported_and_not_cached(tmp_path: Path, index_port: int) -> None:
    source = module(
        "python", tmp_path / "m", {"main.py": PY_MAIN, "requirements.txt": "nosuchpkg==9\n"}
    )
    cache = tmp_path / "cache"
    (got,) = run_async(_start_all(_python_settings(index_port), cache, [source]))
    assert got.outputs == []
    # uv's error and the indented lines that explain it are errors.
    assert any("nosuchpkg" in line for line in got.statuses(StatusLevel.ERROR))
    assert any(line.startswith("prepare failed") for line in got.statuses(StatusLevel.ERROR))
    (exited,) = got.exits()
    assert exited.reason == "crashed" and exited.code not in (0, None)
    assert RunState.RUNNING not in [s.state for s in got.states]
    assert _entries(cache, "python") == []  # neither the entry nor a temporary left over


NODE_FILES = {
    "index.js": "const vb = require('visualbox');\nvb.output(require('localdep'));\n",
    "package.json": '{"name": "app", "version": "1.0.0",'
    ' "dependencies": {"localdep": "file:./localdep"}}',
    "localdep/package.json": '{"name": "localdep", "version": "1.0.0", "main": "index.js"}',
    "localdep/index.js": "module.exports = {value: 7};\n",
}


def test_node_dependencies_are_prepared_once_and_cached(tmp_path: Path) -> None:
    source = module("node", tmp_path / "m", NODE_FILES)
    cache = tmp_path / "cache"
    node_settings = settings(npm_registry="http://127.0.0.1:9/")  # nothing to fetch
    (first,) = run_async(_start_all(node_settings, cache, [source]))
    assert first.outputs == [{"value": 7}], first.messages
    assert first.states[0].state is RunState.PREPARING
    (entry,) = _entries(cache, "node")
    (second,) = run_async(_start_all(node_settings, cache, [source]))
    assert second.outputs == [{"value": 7}]
    assert RunState.PREPARING not in [s.state for s in second.states]
    assert _entries(cache, "node") == [entry]


def test_a_killed_prepare_leaves_nothing_behind_for_long(tmp_path: Path) -> None:
    source = module("node", tmp_path / "m", NODE_FILES)
    cache = tmp_path / "cache"
    # What a supervisor killed mid-prepare leaves: a temporary folder of the entry.
    registry = "http://127.0.0.1:9/"
    stale = cache / "node" / f".tmp-{cache_key(source, registry)}-killed"
    (stale / "pkg").mkdir(parents=True)
    node_settings = settings(npm_registry=registry)
    (run,) = run_async(_start_all(node_settings, cache, [source]))
    assert run.outputs == [{"value": 7}], run.messages
    assert not stale.exists()
    assert [p.name for p in (cache / "node").iterdir()] == [cache_key(source, registry)]


def test_go_builds_once_with_vendored_code(tmp_path: Path) -> None:
    files = {
        "main.go": 'package main\n\nimport (\n\t"visualbox"\n\t"example.com/greet"\n)\n\n'
        "func main() { visualbox.Output(greet.Hello()) }\n",
        "vendor/example.com/greet/greet.go": "package greet\n\nfunc Hello() string "
        '{ return "hello from vendor" }\n',
    }
    source = module("go", tmp_path / "m", files)
    cache = tmp_path / "cache"
    (first,) = run_async(_start_all(settings(), cache, [source]))
    assert first.outputs == ["hello from vendor"], first.messages
    (entry,) = _entries(cache, "go")
    (second,) = run_async(_start_all(settings(), cache, [source]))
    assert second.outputs == ["hello from vendor"]
    assert RunState.PREPARING not in [s.state for s in second.states]
    assert _entries(cache, "go") == [entry]


def test_modules_without_dependency_files_need_no_prepare(tmp_path: Path) -> None:
    source = module(
        "python", tmp_path / "m", {"main.py": "import visualbox\nvisualbox.output(1)\n"}
    )
    cache = tmp_path / "cache"
    (got,) = run_async(_start_all(settings(), cache, [source]))
    assert got.outputs == [1]
    assert RunState.PREPARING not in [s.state for s in got.states]
    assert not cache.exists() or _entries(cache, "python") == []


def test_prepared_entries_hold_no_set_id_or_shared_writable_files(tmp_path: Path) -> None:
    # The build code runs as the sandbox's uid, which is the supervisor's uid on the host
    # (root when VisualBox runs as root): its set-uid files must not survive into the cache.
    script = (
        "const fs = require('fs');"
        "fs.copyFileSync('/usr/bin/id', '/deps/pkg/suid'); fs.chmodSync('/deps/pkg/suid', 0o6755);"
        "fs.mkdirSync('/deps/pkg/shared'); fs.chmodSync('/deps/pkg/shared', 0o2777);"
        "fs.chmodSync('/deps', 0o777);"
    )
    files = {
        "index.js": "require('visualbox').output('ran');\n",
        "package.json": json.dumps(
            {"name": "app", "version": "1.0.0", "scripts": {"install": f'node -e "{script}"'}}
        ),
    }
    source = module("node", tmp_path / "m", files)
    cache = tmp_path / "cache"
    (got,) = run_async(_start_all(settings(npm_registry="http://127.0.0.1:9/"), cache, [source]))
    assert got.outputs == ["ran"], got.messages
    (entry,) = _entries(cache, "node")
    assert (entry / "pkg" / "suid").is_file()  # the install script really ran
    unsafe = stat.S_ISUID | stat.S_ISGID | stat.S_IWGRP | stat.S_IWOTH
    tree = [entry, *entry.rglob("*")]
    modes = {p: p.lstat().st_mode for p in tree if not p.is_symlink()}
    assert {str(p): oct(m) for p, m in modes.items() if m & unsafe} == {}
    assert {str(p) for p, m in modes.items() if not m & stat.S_IROTH} == set()
    # Written by the sandbox's unprivileged host uid, the entry is ours again once cached:
    # that uid can no longer change what later runs load.
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in tree}
    assert owners == {(os.geteuid(), os.getegid())}


def test_python_code_edits_reuse_the_prepared_dependencies(tmp_path: Path) -> None:
    """The venv depends on requirements.txt alone when every line is a plain requirement
    from the index; anything else (options, paths, URLs, odd line breaks) keys on the
    whole module."""

    def key(name: str, files: dict[str, str]) -> str:
        return cache_key(module("python", tmp_path / name, files))

    base = {"requirements.txt": "# pinned\ntinydep[fast]==1.0 ; python_version >= '3'\r\n"}
    first = key("a", {**base, "main.py": "print(1)\n"})
    assert key("b", {**base, "main.py": "print(2)\n", "extra.py": ""}) == first
    assert key("c", {"requirements.txt": "tinydep==1.1\n", "main.py": "print(1)\n"}) != first
    local_lines = (
        "-r base.txt", "-e .", "./wheels/x.whl", "--requirement=b.txt", "x @ ./x",
        "y @ file:///app/y", "-i /app/simple", "--index-url=/app/simple", "demo\r-r /app/x.txt",
        "demo\x0b-r /app/x.txt", "demo # \r-r x.txt", "--find-links /app/w", "z \\\n-r x.txt",
        "tinydep --config-settings x=/app/y", "pkg>=1 ; extra == '\r-r x.txt'",
    )  # fmt: skip
    for n, local in enumerate(local_lines):
        requirements = {"requirements.txt": f"tinydep==1.0\n{local}\n"}
        one = key(f"d{n}1", {**requirements, "main.py": "print(1)\n"})
        two = key(f"d{n}2", {**requirements, "main.py": "print(2)\n"})
        assert one != two, local  # the whole module counts then
    node = {"package.json": "{}", "index.js": "1"}
    assert cache_key(module("node", tmp_path / "n1", node)) != cache_key(
        module("node", tmp_path / "n2", {**node, "index.js": "2"})
    )


def _poisonable(dest: Path, value: object) -> ModuleSource:
    """A module whose requirements read a package index inside the module itself."""
    (dest / "simple" / "tinydep").mkdir(parents=True)
    _wheel(dest / "simple" / "tinydep" / "tinydep-1.0-py3-none-any.whl", value)
    (dest / "simple" / "tinydep" / "index.html").write_text(
        '<a href="tinydep-1.0-py3-none-any.whl">tinydep-1.0-py3-none-any.whl</a>'
    )
    (dest / "main.py").write_text(PY_MAIN)
    (dest / "requirements.txt").write_text("-i /app/simple\ntinydep==1.0\n")
    return ModuleSource.from_dir(dest, "python")


def test_another_users_module_cannot_poison_a_prepared_environment(tmp_path: Path) -> None:
    """The attack: the same requirements.txt, each module with its own local index. The
    attacker prepares first; the victim must still run its own package, not theirs."""
    attacker = _poisonable(tmp_path / "attacker", "attacker's code")
    victim = _poisonable(tmp_path / "victim", 42)
    cache = tmp_path / "cache"
    first, second = run_async(_start_all(settings(), cache, [attacker, victim]))
    assert first.outputs == ["attacker's code"]
    assert second.outputs == [42]
    assert cache_key(attacker) != cache_key(victim)
    assert len(_entries(cache, "python")) == 2


def _node_writer(dest: Path, files: int, kib: int = 1024, tag: str = "") -> ModuleSource:
    """A Node module whose ``postinstall`` writes ``files`` files of ``kib`` KiB each."""
    script = (
        f"for (let i = 0; i < {files}; i++) require('fs').writeFileSync("
        f"'/deps/pkg/blob' + i, Buffer.alloc({kib} << 10, i + 1));"
    )
    package = {"name": "app", "version": "1.0.0", "scripts": {"postinstall": f'node -e "{script}"'}}
    files_ = {
        "index.js": "require('visualbox').output('ran');\n"
        "if (process.env.VB_HOLD) setInterval(() => {}, 1000);\n" + f"// {tag}\n",
        "package.json": json.dumps(package),
    }
    return module("node", dest, files_)


NO_REGISTRY = "http://127.0.0.1:9/"


def test_a_prepare_that_writes_past_its_disk_cap_fails_and_caches_nothing(tmp_path: Path) -> None:
    """The attack: a postinstall script fills the disk. It gets the prepare's cap (a tmpfs
    in the sandbox), and whatever it wrote never reaches the host's cache."""
    source = _node_writer(tmp_path / "m", files=40)  # 40 MiB
    cache = tmp_path / "cache"
    capped = settings(npm_registry=NO_REGISTRY, prepare_disk_mb=20)
    (got,) = run_async(_start_all(capped, cache, [source]))
    assert got.outputs == []
    errors = [line for line in got.statuses(StatusLevel.ERROR) if line.startswith("prepare")]
    assert errors and "more than 20 MiB" in errors[0], got.messages
    assert "PREPARE_DISK_MB" in errors[0]
    (exited,) = got.exits()
    assert exited.reason == "crashed"
    assert _entries(cache, "node") == []  # neither the entry nor a temporary left over
    # Under the cap, the same kind of script prepares fine.
    (fits,) = run_async(_start_all(capped, cache, [_node_writer(tmp_path / "n", files=5)]))
    assert fits.outputs == ["ran"], fits.messages
    (entry,) = _entries(cache, "node")
    assert (entry / "pkg" / "blob4").stat().st_size == 1 << 20


def test_the_cache_evicts_the_least_recently_used_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bounded = settings(npm_registry=NO_REGISTRY, cache_max_mb=2)
    a, b, c = (_node_writer(tmp_path / n, files=1, kib=700, tag=n) for n in "abc")
    keys = {n: cache_key(m, NO_REGISTRY) for n, m in zip("abc", (a, b, c), strict=True)}
    run_async(_start_all(bounded, cache, [a]))
    run_async(_start_all(bounded, cache, [b]))
    assert {p.name for p in _entries(cache, "node")} == {keys["a"], keys["b"]}
    (again,) = run_async(_start_all(bounded, cache, [a]))  # a is used again: b is now older
    assert RunState.PREPARING not in [s.state for s in again.states]
    (third,) = run_async(_start_all(bounded, cache, [c]))
    assert third.outputs == ["ran"]
    assert {p.name for p in _entries(cache, "node")} == {keys["a"], keys["c"]}
    assert not any(p.name.startswith(".") for p in (cache / "node").iterdir())


def test_the_cache_never_evicts_an_entry_a_running_integration_uses(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bounded = settings(npm_registry=NO_REGISTRY, cache_max_mb=1)
    held, later, last = (_node_writer(tmp_path / n, 1, 700, n) for n in ("h", "l", "z"))
    held = _held(held)
    keys = [cache_key(m, NO_REGISTRY) for m in (held, later, last)]

    async def scenario() -> tuple[set[str], set[str]]:
        supervisor = Supervisor(make_sandbox(), bounded, cache)
        try:
            running = Collector()
            # The oldest entry, used by an integration that keeps running.
            await supervisor.start("held", held, {}, on_message=running)
            await running.wait_for(lambda c: c.outputs == ["ran"])
            await (await supervisor.start("l", later, {}, on_message=Collector())).wait()
            while_running = {p.name for p in _entries(cache, "node")}
            await supervisor.runs()[0].terminate()
            await (await supervisor.start("z", last, {}, on_message=Collector())).wait()
            return while_running, {p.name for p in _entries(cache, "node")}
        finally:
            await supervisor.close()

    while_running, after = run_async(scenario())
    # Over the bound with two entries, but the held one stays (and so does the newest,
    # which its own run holds while it prepares).
    assert while_running == {keys[0], keys[1]}
    assert after == {keys[2]}  # once nothing holds them, the older ones go


def _held(source: ModuleSource) -> ModuleSource:
    """``source`` whose program keeps running after its output."""
    index = source.root / "index.js"
    index.write_text(index.read_text().replace("process.env.VB_HOLD", "true"))
    return ModuleSource.from_dir(source.root, "node")


def test_the_unpacker_keeps_a_hostile_archive_inside_the_entry(tmp_path: Path) -> None:
    """What leaves the prepare sandbox is untrusted: the unpacker writes only files,
    folders and symlinks inside the entry, never set-id, never past the byte budget."""

    def archive(*members: tuple[tarfile.TarInfo, bytes]) -> int:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for member, data in members:
                tar.addfile(member, io.BytesIO(data) if data else None)
        read_fd, write_fd = os.pipe()
        threading.Thread(target=_write_all, args=(write_fd, buffer.getvalue())).start()
        return read_fd

    def member(name: str, kind: bytes = tarfile.REGTYPE, **attrs: object) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        for key, value in attrs.items():
            setattr(info, key, value)
        return info

    dest = tmp_path / "entry"
    dest.mkdir()
    fd = archive(
        (member("ok.txt", size=2, mode=0o6777, uid=0, gid=0), b"ok"),
        (member("hard", tarfile.LNKTYPE, linkname="/etc/passwd"), b""),
        (member("null", tarfile.CHRTYPE, devmajor=1, devminor=3), b""),
        (member("fifo", tarfile.FIFOTYPE), b""),
        (member("link", tarfile.SYMTYPE, linkname="/usr/bin/python3"), b""),
    )
    prepare._unpack(fd, dest, 1 << 20)
    assert sorted(p.name for p in dest.iterdir()) == ["link", "ok.txt"]
    assert stat.S_IMODE((dest / "ok.txt").stat().st_mode) == 0o755
    assert (dest / "ok.txt").stat().st_uid == os.geteuid()
    prepare._unpack(archive((member("/abs.txt", size=1), b"x")), dest, 1 << 20)
    assert (dest / "abs.txt").read_text() == "x"  # the leading slash is dropped
    for name in ("../up.txt", "link/../../x"):
        with pytest.raises(tarfile.FilterError):
            prepare._unpack(archive((member(name, size=1), b"x")), dest, 1 << 20)
    with pytest.raises(prepare._TooBig):
        prepare._unpack(archive((member("big", size=3 << 20), b"x" * (3 << 20))), dest, 1 << 20)


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError), os.fdopen(fd, "wb") as out:
        out.write(data)


def test_tool_lines_are_information_unless_they_say_otherwise() -> None:
    lines = {
        "Resolved 1 package in 3ms": StatusLevel.INFO,
        "Installed 1 package in 1ms": StatusLevel.INFO,
        " + tinydep==1.0": StatusLevel.INFO,
        "added 1 package, and audited 2 packages in 1s": StatusLevel.INFO,
        "go: downloading example.com/x v1.0.0": StatusLevel.INFO,
        "# app": StatusLevel.INFO,
        "warning: `VIRTUAL_ENV=/x` does not match": StatusLevel.WARNING,
        "  the project environment path": StatusLevel.WARNING,  # follows a warning
        "npm WARN deprecated figlet@0.1": StatusLevel.WARNING,
        "npm warn config production Use `--omit=dev` instead.": StatusLevel.WARNING,
        "": StatusLevel.INFO,
        "error: No solution found when resolving dependencies": StatusLevel.ERROR,
        "  cause: Because nosuchpkg was not found": StatusLevel.ERROR,  # uv's explanation
        "hint: Packages were unavailable": StatusLevel.INFO,
        "  × No solution found when resolving dependencies:": StatusLevel.ERROR,
        "npm ERR! code E404": StatusLevel.ERROR,
        "npm error 404 Not Found - GET http://127.0.0.1/nosuch": StatusLevel.ERROR,
        "./main.go:5:2: undefined: x": StatusLevel.ERROR,
        "Errors are reported here": StatusLevel.INFO,
    }
    levels = ToolLevels()
    assert {line: levels(line) for line in lines} == lines
