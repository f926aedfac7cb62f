"""The Kubernetes runner (``runtime/runners/kubernetes.py``), end to end.

**The Kubernetes API server here is an emulator** (``tests/runtime/kube/emulator.py``):
no real API server can run on these machines. The runner talks to it through the
official client (``kubernetes_asyncio``), unchanged. A test *kubelet*
(``tests/runtime/kube/kubelet.py``) watches the emulator for pods and runs each one
for real in the bubblewrap sandbox, reporting Running, the exit code and OOMKilled
back through the API, as a kubelet would. So everything from the runner's API calls
to the integration's outputs is real except the API server and the container
runtime: there is no scheduling, no image pull, no NetworkPolicy here. Every
manifest the runner sent is validated against the Kubernetes schemas.

One real server (uvicorn, ``tests/live``) runs on the Kubernetes runner for the whole
module; its pods connect back to it at ``10.0.2.2:PORT`` through the sandbox's
network. Against a real cluster: ``KUBECONFIG=... pytest -k real_cluster`` (the test
is deselected, and says so, without it).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import kubernetes_validate
import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fixtures.ports import free_port
from tests.live.conftest import (
    LEVEL_SCHEMA,
    Client,
    Server,
    live_settings,
    output_of,
    viewer,
)
from tests.live.test_output_contract import MAIN as CONTRACT_MAIN
from tests.live.test_output_contract import SCHEMA as CONTRACT_SCHEMA
from tests.live.test_output_contract import WARNING as CONTRACT_WARNING
from tests.live.test_runtimes import CITY, GO  # the same Go integration
from tests.runtime.kube.cluster import NAMESPACE, Cluster
from visualbox.db.tables.accounts import User
from visualbox.runtime.messages import Message, State
from visualbox.runtime.runners import SourceClient, SourceRef
from visualbox.runtime.runners import kubernetes_pods as pods
from visualbox.runtime.runners.kubernetes import KubernetesRunner
from visualbox.runtime.sandbox import get_sandbox
from visualbox.runtime.sandbox.base import ExitReason
from visualbox.runtime.supervisor import Supervisor
from visualbox.services import registry, run_tokens
from visualbox.settings import RunnerSettings, SandboxSettings

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).parent.parent.parent
RBAC = ROOT / "deploy" / "kubernetes" / "runner" / "rbac.yaml"
KUBERNETES_VERSION = "1.37.0"
NODE = "node-a"
MARK = "config-value-5e1f"
TIMEOUT = 60.0

PYTHON = """\
import os, sys, time
import visualbox

nonce = os.urandom(6).hex()
print("pod started with level", visualbox.MODEL["level"], flush=True)
if visualbox.MODEL.get("mode") == "oom":
    hog = b"x" * (512 << 20)
n = 0
while True:
    visualbox.output({"nonce": nonce, "n": n, "level": visualbox.MODEL["level"]})
    n += 1
    if visualbox.MODEL.get("mode") == "crash" and n == 2:
        sys.exit(3)
    time.sleep(0.2)
"""
SCHEMA: list[dict[str, Any]] = [
    *LEVEL_SCHEMA,
    {"type": "text", "name": "mode", "label": "Mode", "default": ""},
    {"type": "text", "name": "tag", "label": "Tag", "default": ""},
]


def deselect_reason(item: pytest.Item) -> str | None:
    if "real_cluster" in item.name and not os.environ.get("KUBECONFIG"):
        return "no KUBECONFIG: the real-cluster journey needs a cluster (opt-in)"
    return None


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("kube")
    port = free_port()
    running = Cluster(folder, [port]).start()
    running.server_port = port  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port: int = cluster.server_port  # type: ignore[attr-defined]
    settings = live_settings(tmp_path_factory.mktemp("server"), idle_timeout_s=2.0)
    settings.runner = RunnerSettings(
        backend="kubernetes",
        callback_url=f"ws://10.0.2.2:{port}",
        kubeconfig=cluster.kubeconfig,
        node_name=NODE,
        warm_pool=1,
        pod_start_timeout_s=60,
    )
    with mock.patch("tests.live.conftest.free_port", lambda: port):
        running = Server(settings).start()
    yield running
    running.stop()


def pods_of(all_pods: list[dict[str, Any]], instance: str) -> list[dict[str, Any]]:
    """The pods of the instance ``instance`` (the end of their run id)."""
    return [
        p
        for p in all_pods
        if (p["metadata"].get("annotations") or {}).get(pods.RUN_ID, "").endswith("/" + instance)
    ]


def warning_of(instance: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: (
        m["type"] == "STATUS" and m["instance"] == instance and (m["status"] == "T_WARNING")
    )


def added_as(cluster: Cluster, name: str) -> dict[str, Any]:
    """The pod ``name`` as it was created."""
    return next(
        pod
        for _, kind, pod in cluster.emulator.history
        if kind == "ADDED" and pod["metadata"]["name"] == name
    )


async def expect(
    client: Client, cluster: Cluster, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first message matching ``predicate``; on time-out, an error that shows the
    states, logs and pods (what ``kubectl describe`` and ``kubectl logs`` would)."""
    try:
        return await client.wait_for(predicate, timeout=TIMEOUT)
    except TimeoutError:
        said = [m for m in client.messages if m["type"] in ("STATE", "STATUS")][-12:]
        logs = {name: bytes(log[-400:]) for name, log in cluster.kubelet.logs.items() if log}
        states = [(p["metadata"]["name"], p.get("status")) for p in cluster.pods()]
        raise AssertionError(f"not seen; said {said}; pod logs {logs}; pods {states}") from None


# --- journeys ---------------------------------------------------------------------------


async def test_a_dashboard_on_kubernetes_shows_python_data_from_a_claimed_warm_pod(
    server: Server, cluster: Cluster
) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON}, schema=SCHEMA)
    board = owner.dashboard([{"id": "py", "module_id": module, "label": "P", "config": {}}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        first = await expect(client, cluster, output_of("py"))
        assert first["data"]["level"] == 1
        (pod,) = pods_of(cluster.pods(), "py")
        labels = pod["metadata"]["labels"]
        assert labels[pods.NODE] == NODE and labels[pods.STATE] == "run"
        assert labels[pods.DASHBOARD] == pods.label_value(board["id"])
        assert added_as(cluster, pod["metadata"]["name"])["metadata"]["labels"][pods.STATE] == (
            "warm"
        )  # it was a warm pod, claimed
        await cluster.wait_for(  # and another one took its place in the pool
            lambda all_pods: [
                p
                for p in all_pods
                if p["metadata"]["labels"].get(pods.STATE) == "warm"
                and p["metadata"]["labels"][pods.RUNTIME] == "python"
                and p["metadata"]["name"] != pod["metadata"]["name"]
            ]
        )
        logs = await expect(
            client, cluster, lambda m: m["type"] == "STATUS" and "pod started" in m["data"]
        )
        assert logs["status"] == "T_INFO"
    finally:
        await client.close()


async def test_a_config_change_replaces_the_pod(server: Server, cluster: Cluster) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON}, schema=SCHEMA)
    board = owner.dashboard([{"id": "cc", "module_id": module, "label": "C", "config": {}}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        first = await expect(
            client, cluster, lambda m: output_of("cc")(m) and m["data"]["level"] == 1
        )
        (before,) = pods_of(cluster.pods(), "cc")
        with owner.http() as http:
            response = http.patch(
                f"/api/dashboards/{board['id']}/integrations/cc",
                json={"revision": board["revision"], "config": {"level": 7, "tag": MARK}},
            )
            assert response.status_code == 200, response.text
        changed = await expect(
            client, cluster, lambda m: output_of("cc")(m) and m["data"]["level"] == 7
        )
        assert changed["data"]["nonce"] != first["data"]["nonce"]
        (after,) = await cluster.wait_for(lambda all_pods: pods_of(all_pods, "cc"))
        assert after["metadata"]["name"] != before["metadata"]["name"]  # the old one is gone
        # Config values travel over the channel, never in a pod spec.
        assert MARK not in json.dumps(cluster.emulator.created)
    finally:
        await client.close()


async def test_a_crash_is_restarted_with_back_off_in_a_new_pod(
    server: Server, cluster: Cluster
) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON}, schema=SCHEMA)
    config = {"mode": "crash"}
    board = owner.dashboard([{"id": "cr", "module_id": module, "label": "C", "config": config}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        first = await expect(client, cluster, output_of("cr"))
        crashed = await expect(
            client,
            cluster,
            lambda m: m["type"] == "STATE" and m["instance"] == "cr" and m["state"] == "exited",
        )
        assert (crashed["reason"], crashed["code"]) == ("crashed", 3)
        assert crashed["restart_in_s"] is not None and crashed["restart_in_s"] > 0
        again = await expect(
            client,
            cluster,
            lambda m: output_of("cr")(m) and m["data"]["nonce"] != first["data"]["nonce"],
        )
        assert again["data"]["n"] == 0  # a new process, in a new pod
        history = [pod for _, _, pod in cluster.emulator.history]
        assert len({pod["metadata"]["name"] for pod in pods_of(history, "cr")}) >= 2
    finally:
        await client.close()


async def test_an_out_of_memory_kill_reads_as_such(server: Server, cluster: Cluster) -> None:
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON}, schema=SCHEMA)
    config = {"mode": "oom"}
    board = owner.dashboard([{"id": "om", "module_id": module, "label": "O", "config": config}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        ended = await expect(
            client,
            cluster,
            lambda m: m["type"] == "STATE" and m["instance"] == "om" and m["state"] == "exited",
        )
        assert ended["reason"] == "oom", ended
        assert "OOMKilled" in ended["detail"]
        assert not client.of("OUTPUT") or all(m["instance"] != "om" for m in client.of("OUTPUT"))
    finally:
        await client.close()


async def test_an_output_that_breaks_the_declared_schema_is_a_warning(
    server: Server, cluster: Cluster
) -> None:
    owner = server.account()
    files = {
        "main.py": CONTRACT_MAIN,
        "output.schema.json": json.dumps(CONTRACT_SCHEMA),
        "visualbox.json": json.dumps({"kind": "integration", "output": "output.schema.json"}),
    }
    module = owner.module("python", files)
    board = owner.dashboard([{"id": "oc", "module_id": module, "label": "C", "config": {}}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        said = await expect(client, cluster, warning_of("oc"))
        assert said["data"] == CONTRACT_WARNING
    finally:
        await client.close()


NODE_JS = """\
const visualbox = require('visualbox');
let n = 0;
setInterval(() => visualbox.output({n: n++, city: visualbox.MODEL.city}), 100);
"""


async def test_node_and_go_integrations_run_in_pods(server: Server, cluster: Cluster) -> None:
    owner = server.account()
    node = owner.module("node", {"index.js": NODE_JS}, schema=CITY)
    go = owner.module("go", {"main.go": GO}, schema=CITY)
    board = owner.dashboard(
        [
            {"id": "js", "module_id": node, "label": "Node", "config": {"city": "Alta"}},
            {"id": "go", "module_id": go, "label": "Go", "config": {"city": "Bodø"}},
        ]
    )
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        js = await expect(client, cluster, output_of("js"))
        built = await expect(client, cluster, output_of("go"))  # compiled on the node first
        assert js["data"]["city"] == "Alta" and built["data"]["city"] == "Bodø"
        runtimes = {
            p["metadata"]["labels"][pods.RUNTIME]
            for p in cluster.pods()
            if p in pods_of([p], "js") or p in pods_of([p], "go")
        }
        assert runtimes == {"node", "go"}
        states = [m["state"] for m in client.of("STATE") if m["instance"] == "go"]
        assert "preparing" in states  # the Go binary was built once, then sent to the pod
    finally:
        await client.close()


async def test_the_pod_channel_takes_a_pod_token_once_and_nothing_else(server: Server) -> None:
    owner = server.account()
    url = f"ws://127.0.0.1:{server.port}/api/runner/channel"
    with pytest.raises(InvalidStatus):  # no token: refused before the handshake ends
        await connect(url)
    for credential in (owner.token, "vbp_made-up"):  # a user's token, an unknown one
        async with connect(url, additional_headers={"Authorization": f"Bearer {credential}"}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# --- the runner on its own (another "node" of the same cluster) ------------------------------


class Messages:
    def __init__(self) -> None:
        self.all: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.all.append(message)


def side_runner(server: Server, cluster: Cluster, folder: Path, node: str, **extra: Any) -> Any:
    """A Kubernetes runner for server node ``node``, as that node's server would build it
    (its pods call the module's server back, which does not know their tokens)."""
    settings = server.settings.runner.model_copy(update={"node_name": node, "warm_pool": 0})
    settings = settings.model_copy(update=extra)
    sandbox = get_sandbox(server.settings.sandbox)
    return KubernetesRunner(
        settings,
        server.settings.sandbox,
        sources=SourceClient(server.url),
        sources_dir=folder / "sources",
        supervisor=Supervisor(sandbox, server.settings.sandbox, folder / "cache"),
    )


def source_of(server: Server, account_id: str, module_id: str) -> tuple[SourceRef, str]:
    """The published source of ``module_id`` and a run token for it."""
    with server.app.state.db.session() as db:
        owner = db.get(User, account_id)
        resolved = registry.resolve(db, module_id, "1.0.0", user=owner)
    ref = SourceRef(module_id, "1.0.0", resolved.content_hash, "python")
    return ref, run_tokens.issue(server.app.state.secret_box, [ref])


def leftover(name: str, node: str, run_id: str | None, generation: int | None = 1) -> Any:
    """A pod as a runner of ``node`` makes it (its token is long gone)."""
    return pods.pod_manifest(
        name,
        runtime="python",
        node=node,
        channel_url="ws://10.0.2.2:9/api/runner/channel",
        pod_token="vbp_long-gone",
        runner=RunnerSettings(),
        sandbox=SandboxSettings(),
        run_id=run_id,
        generation=generation,
    )


def names(all_pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in all_pods}


async def test_an_image_that_cannot_be_pulled_ends_the_run_and_says_which(
    server: Server, cluster: Cluster, tmp_path: Path
) -> None:
    owner = server.account()
    ref, token = source_of(server, owner.id, owner.module("python", {"main.py": PYTHON}))
    images = {"python": "visualbox/runtime-python:missing"}
    runner = side_runner(server, cluster, tmp_path, "node-pull", images=images)
    try:
        await runner.open()
        messages = Messages()
        handle = await runner.start("dashboard:pull/i", ref, token, {"level": 1}, messages)
        info = await handle.wait()
        assert info.reason is ExitReason.CRASHED
        assert "the image visualbox/runtime-python:missing could not be pulled" in info.detail
        assert [m.reason for m in messages.all if isinstance(m, State)][-1] == "crashed"
        await cluster.wait_for(
            lambda all_pods: (
                not any(p["metadata"]["labels"][pods.NODE] == "node-pull" for p in all_pods)
            )  # fmt: skip
        )  # its pod was deleted
    finally:
        await runner.close()


async def test_a_restarted_server_deletes_the_pods_it_left_and_only_those(
    server: Server, cluster: Cluster, tmp_path: Path
) -> None:
    mine = [
        leftover("vbx-python-left-run", "node-b", "dashboard:old/i1"),
        leftover("vbx-python-left-warm", "node-b", None, None),
    ]
    theirs = leftover("vbx-python-other-node", "node-c", "dashboard:old/i2")
    for manifest in [*mine, theirs]:
        cluster.create(manifest)
    every = names([*mine, theirs])
    await cluster.wait_for(lambda _: every <= set(cluster.kubelet.started))  # they ran
    runner = side_runner(server, cluster, tmp_path, "node-b")  # node-b, started again
    try:
        await runner.open()
        left = names(cluster.pods())
        assert not names(mine) & left
        assert theirs["metadata"]["name"] in left
    finally:
        await runner.close()
        cluster.delete(theirs["metadata"]["name"])


async def test_a_run_under_a_newer_lease_deletes_the_pods_of_older_generations(
    server: Server, cluster: Cluster, tmp_path: Path
) -> None:
    old = leftover("vbx-python-gen1", "node-x", "dashboard:fenced/i", 1)
    new = leftover("vbx-python-gen5", "node-y", "dashboard:fenced/i", 5)
    for manifest in (old, new):
        cluster.create(manifest)
    runner = side_runner(server, cluster, tmp_path, "node-z")
    try:
        await runner.open()
        await runner.fence("dashboard:fenced/i", 3)
        left = names(cluster.pods())
        assert "vbx-python-gen1" not in left and "vbx-python-gen5" in left
    finally:
        await runner.close()
        cluster.delete("vbx-python-gen5")


# --- what the runner sends, and the rights it needs ------------------------------------------


def test_every_manifest_the_runner_made_is_valid_kubernetes(cluster: Cluster) -> None:
    made = [leftover("vbx-python-a", "n", "dashboard:d/i"), leftover("vbx-go-b", "n", None)]
    claimed = copy.deepcopy(made[1])
    for op in pods.claim_patch("dashboard:d/i", 2):
        if op["op"] == "add" and op["path"].startswith("/metadata/labels/"):
            key = op["path"].removeprefix("/metadata/labels/").replace("~1", "/")
            claimed["metadata"]["labels"][key] = op["value"]
    for manifest in [*cluster.emulator.created, *made, claimed]:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    spec = made[0]["spec"]
    container = spec["containers"][0]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsUser"] == 65534
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}


async def test_the_role_allows_exactly_the_calls_the_runner_makes(
    server: Server, cluster: Cluster
) -> None:
    # A whole life: reconcile (list), watch, warm pods (create), a claim (patch), a stop
    # (delete); then every call the runner made in this module is compared with the Role.
    owner = server.account()
    module = owner.module("python", {"main.py": PYTHON}, schema=SCHEMA)
    board = owner.dashboard([{"id": "rb", "module_id": module, "label": "R", "config": {}}])
    client = await viewer(server, owner)
    try:
        await client.send({"type": "JOIN", "dashboard": board["id"]})
        await expect(client, cluster, output_of("rb"))
    finally:
        await client.close()
    await cluster.wait_for(lambda all_pods: not pods_of(all_pods, "rb"))  # idle: stopped
    documents = list(yaml.safe_load_all(RBAC.read_text()))
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    (role,) = [d for d in documents if d["kind"] == "Role"]
    assert role["metadata"]["namespace"] == NAMESPACE
    allowed = {(verb, resource) for rule in role["rules"] for resource in rule["resources"]
               for verb in rule["verbs"]}  # fmt: skip
    # The runner's calls are the official client's (the kubelet's are plain aiohttp).
    used = {(verb, resource) for verb, resource, agent in cluster.emulator.requests
            if agent.startswith("OpenAPI-Generator")}  # fmt: skip
    assert used == allowed
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])


# --- a real cluster (opt-in) ------------------------------------------------------------------


async def test_the_journey_on_a_real_cluster(tmp_path: Path) -> None:
    """With KUBECONFIG set: a dashboard on the Kubernetes runner of a real cluster shows
    data. The images of ``RUNNER__IMAGES`` must be pullable there, and the pods must reach
    this machine at ``VISUALBOX_TEST_CALLBACK_URL`` (for example a tunnel to the port in
    ``VISUALBOX_TEST_SERVER_PORT``)."""
    port = int(os.environ.get("VISUALBOX_TEST_SERVER_PORT") or free_port())
    settings = live_settings(tmp_path, idle_timeout_s=5.0)
    settings.runner = RunnerSettings(
        backend="kubernetes",
        callback_url=os.environ.get("VISUALBOX_TEST_CALLBACK_URL", f"ws://127.0.0.1:{port}"),
        namespace=os.environ.get("VISUALBOX_TEST_NAMESPACE", NAMESPACE),
        node_name=f"tests-{free_port()}",
    )
    with mock.patch("tests.live.conftest.free_port", lambda: port):
        running = Server(settings).start()
    try:
        owner = running.account()
        module = owner.module("python", {"main.py": PYTHON}, schema=SCHEMA)
        board = owner.dashboard([{"id": "real", "module_id": module, "label": "R", "config": {}}])
        client = await viewer(running, owner)
        try:
            await client.send({"type": "JOIN", "dashboard": board["id"]})
            first = await client.wait_for(output_of("real"), timeout=300)
            assert first["data"]["level"] == 1
        finally:
            await client.close()
    finally:
        running.stop()
