"""Start-up cost of sandboxed integrations (prints figures; not a test).

    .venv/bin/python bench/startup.py [--runs 30] [--part local|kubernetes|all]
                                      [--sandbox bwrap|runsc]

For a trivial Python and Node integration it measures request → INIT and
request → first OUTPUT through the supervisor and the real sandbox, against the
same interpreter started bare (spawn → first stdout line, same flags); then a
cached start of a module with dependencies against one without. Targets:
sandboxed p50 ≤ 1.5 × bare + 30 ms; cached-with-deps p50 ≤ 2 × without.

The Kubernetes part measures request → first OUTPUT of a trivial Python
integration on the Kubernetes runner with a claimed warm pod against a cold pod,
in the same run, against the tests' API *emulator* and test kubelet
(``tests/runtime/kube/``: pods run in the local sandbox). A relative figure: a real
cluster adds scheduling and the image pull to every cold start.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import statistics
import sys
import tempfile
import threading
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from visualbox.runtime.layout import NODE, PYTHON, ModuleSource
from visualbox.runtime.messages import Init, Message, Output
from visualbox.runtime.sandbox import get_sandbox
from visualbox.runtime.supervisor import Supervisor
from visualbox.settings import SandboxSettings

PY_MAIN = "import visualbox\nvisualbox.output(1)\n"
NODE_MAIN = "const vb = require('visualbox');\nvb.output(1);\n"


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


async def _bare(argv: list[str], env: dict[str, str]) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, env=env, stdin=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    await proc.stdout.readline()
    elapsed = loop.time() - start
    await proc.wait()
    return elapsed


async def _sandboxed(supervisor: Supervisor, source: ModuleSource) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    times: dict[str, float] = {}
    first_output = asyncio.Event()

    def on_message(message: Message) -> None:
        if isinstance(message, Init):
            times.setdefault("init", loop.time())
        elif isinstance(message, Output):
            times.setdefault("output", loop.time())
            first_output.set()

    start = loop.time()
    run = await supervisor.start("bench", source, {}, on_message=on_message)
    await asyncio.wait_for(first_output.wait(), 60)
    await run.wait()
    return times["init"] - start, times["output"] - start


async def _repeat(runs: int, measure: Callable[[], Awaitable[float]]) -> list[float]:
    await measure()  # warm-up (page cache, prepare)
    return [await measure() for _ in range(runs)]


def _index(root: Path) -> int:
    """A one-wheel PEP 503 index on host loopback; returns its port."""
    (root / "simple" / "tinydep").mkdir(parents=True)
    with zipfile.ZipFile(root / "tinydep-1.0-py3-none-any.whl", "w") as whl:
        whl.writestr("tinydep/__init__.py", "VALUE = 42\n")
        whl.writestr(
            "tinydep-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n"
        )
        whl.writestr(
            "tinydep-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr("tinydep-1.0.dist-info/RECORD", "")
    (root / "simple" / "tinydep" / "index.html").write_text(
        '<a href="../../tinydep-1.0-py3-none-any.whl">tinydep-1.0-py3-none-any.whl</a>'
    )

    def handler(*args: object) -> http.server.SimpleHTTPRequestHandler:
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

        return Quiet(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


async def main(runs: int, backend: str = "bwrap") -> None:
    work = Path(tempfile.mkdtemp(prefix="visualbox-bench-"))
    port = _index(work / "index")
    settings = SandboxSettings(
        backend=backend,
        network="none",
        allow_host_ports=[port],
        python_index_url=f"http://10.0.2.2:{port}/simple",
        npm_registry="http://127.0.0.1:9/",
    )
    sandbox = get_sandbox(SandboxSettings(backend=backend, network="outbound"))  # prepare
    sandbox.check()
    supervisor = Supervisor(sandbox, settings, work / "cache")
    py = ModuleSource.from_dir(_write(work / "py", {"main.py": PY_MAIN}), "python")
    node = ModuleSource.from_dir(_write(work / "node", {"index.js": NODE_MAIN}), "node")
    py_deps = ModuleSource.from_dir(
        _write(
            work / "py-deps",
            {"main.py": "import tinydep\n" + PY_MAIN, "requirements.txt": "tinydep==1.0\n"},
        ),
        "python",
    )
    node_deps = ModuleSource.from_dir(
        _write(
            work / "node-deps",
            {
                "index.js": "require('localdep');\n" + NODE_MAIN,
                "package.json": '{"name":"a","version":"1.0.0",'
                '"dependencies":{"localdep":"file:./d"}}',
                "d/package.json": '{"name":"localdep","version":"1.0.0"}',
                "d/index.js": "",
            },
        ),
        "node",
    )
    bare_py = _write(work / "bare", {"bare.py": "import sys\nsys.stdout.write('1\\n')\n"})
    bare_node = _write(work / "bare", {"bare.js": "process.stdout.write('1\\n');\n"})
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

    print(f"{runs} runs each, milliseconds (median / p95)")
    try:
        for name, source, bare_argv in (
            ("python", py, [PYTHON, "-s", "-S", str(bare_py / "bare.py")]),
            ("node", node, [NODE, str(bare_node / "bare.js")]),
        ):
            bare = await _repeat(runs, lambda argv=bare_argv: _bare(argv, env))  # type: ignore[misc]
            pairs = [await _sandboxed(supervisor, source) for _ in range(runs + 1)][1:]
            b50, b95 = _stats(bare)
            i50, i95 = _stats([p[0] for p in pairs])
            o50, o95 = _stats([p[1] for p in pairs])
            target = 1.5 * b50 + 30
            print(f"{name:6} bare spawn→line   {b50:7.1f} / {b95:7.1f}")
            print(f"{name:6} request→INIT      {i50:7.1f} / {i95:7.1f}")
            print(
                f"{name:6} request→OUTPUT    {o50:7.1f} / {o95:7.1f}   ratio {o50 / b50:.2f}x "
                f"(target ≤ {target:.1f} ms: {'met' if o50 <= target else 'MISSED'})"
            )
        for name, plain, deps in (("python", py, py_deps), ("node", node, node_deps)):
            await _sandboxed(supervisor, deps)  # prepares once
            without = [(await _sandboxed(supervisor, plain))[1] for _ in range(runs)]
            with_deps = [(await _sandboxed(supervisor, deps))[1] for _ in range(runs)]
            w50, _ = _stats(without)
            d50, d95 = _stats(with_deps)
            print(
                f"{name:6} cached with deps  {d50:7.1f} / {d95:7.1f}   vs without {w50:.1f}: "
                f"ratio {d50 / w50:.2f}x (target ≤ 2x: {'met' if d50 <= 2 * w50 else 'MISSED'})"
            )
    finally:
        await supervisor.close()


async def _kubernetes_app(work: Path, cluster: Any, port: int, warm: int) -> Any:
    from visualbox.app import create_app
    from visualbox.settings import RunnerSettings, Settings

    settings = Settings(data_dir=work / f"server-{warm}")
    settings.runner = RunnerSettings(
        backend="kubernetes",
        callback_url=f"ws://10.0.2.2:{port}",
        kubeconfig=cluster.kubeconfig,
        node_name=f"bench-{warm}",
        warm_pool=warm,
        images={"python": "visualbox/runtime-python:1"},
    )
    return create_app(settings)


async def kubernetes(runs: int) -> None:
    """Warm against cold pods on the Kubernetes runner (emulated API, local kubelet)."""
    import uvicorn

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fixtures.ports import free_port
    from tests.runtime.kube.cluster import Cluster

    from visualbox.runtime.runners import SourceRef
    from visualbox.services import accounts, modules, registry, run_tokens

    work = Path(tempfile.mkdtemp(prefix="visualbox-bench-kube-"))
    port = free_port()
    cluster = Cluster(work, [port]).start()
    figures: dict[str, list[float]] = {}
    try:
        for label, warm in (("cold", 0), ("warm", 1)):
            app = await _kubernetes_app(work, cluster, port, warm)
            with app.state.db.session() as db:
                user = accounts.create_user(
                    db, name="Bench", email="bench@example.test", password="correct horse b"
                )
                module = modules.create_module(
                    db, user, name="Bench", kind="integration", runtime="python"
                )
                modules.write_file(db, module, "main.py", PY_MAIN.encode())
                registry.publish(db, module, "1.0.0")
                resolved = registry.resolve(db, module.id, "1.0.0", user=user)
                ref = SourceRef(module.id, "1.0.0", resolved.content_hash, "python")
            token = run_tokens.issue(app.state.secret_box, [ref])
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            server = uvicorn.Server(config)
            serving = asyncio.ensure_future(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)  # polling uvicorn's flag
            runner = app.state.live.runner
            samples = figures.setdefault(label, [])
            try:
                for n in range(runs + 1):
                    while warm and not runner.warm.ready("python"):
                        await asyncio.sleep(0.01)  # the bench waits for an idle warm pod
                    samples.append(await _first_output(runner, ref, token, n))
            finally:
                server.should_exit = True
                await serving
                app.state.db.dispose()
            del samples[0]  # warm-up
        cold, warm_ = (statistics.median(figures[k]) * 1000 for k in ("cold", "warm"))
        print(f"kubernetes request→OUTPUT  cold pod {cold:7.1f}  warm pod {warm_:7.1f}  "
              f"ratio cold/warm {cold / warm_:.2f}x (median of {runs})")  # fmt: skip
        print("  against the API emulator and the test kubelet: a real cluster adds scheduling")
        print("  and the image pull to the cold figure, so its ratio is larger")
    finally:
        cluster.stop()


async def _first_output(runner: Any, ref: Any, token: str, n: int) -> float:
    loop = asyncio.get_running_loop()
    first = asyncio.Event()

    def on_message(message: Message) -> None:
        if isinstance(message, Output):
            first.set()

    start = loop.time()
    handle = await runner.start(f"dashboard:bench/{n}", ref, token, {}, on_message)
    await asyncio.wait_for(first.wait(), 60)
    elapsed = loop.time() - start
    await handle.terminate()
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--part", choices=["local", "kubernetes", "all"], default="all")
    parser.add_argument(
        "--sandbox", choices=["bwrap", "runsc"], default="bwrap", help="of the local part"
    )
    arguments = parser.parse_args()
    if arguments.part in ("local", "all"):
        asyncio.run(main(arguments.runs, arguments.sandbox))
    if arguments.part in ("kubernetes", "all"):
        asyncio.run(kubernetes(arguments.runs))
