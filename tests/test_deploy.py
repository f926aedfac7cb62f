"""The deployment files in deploy/ (docs/scaling.md, docs/kubernetes.md) agree with the code.

There is no Docker or Kubernetes here: the compose file is checked for its structure
(services, the same settings on every server node, healthchecks and probes on routes
the app really has, real setting names), the Kubernetes manifests are validated
offline against the API schemas ``kubernetes-validate`` ships, and the runtime images'
Containerfiles are read line by line (nothing is built)."""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from visualbox.app import create_app
from visualbox.runtime.layout import (
    HOME,
    LAUNCHER,
    LAUNCHER_DIR,
    LAUNCHER_MOUNT,
    SDK,
    SDK_DIR,
    ModuleSource,
    Runtime,
    run_spec,
)
from visualbox.runtime.runners.kubernetes_pods import pod_manifest
from visualbox.runtime.sandbox.base import Limits
from visualbox.runtime.sandbox.certificates import CA_ENV, CA_FILE
from visualbox.settings import DatabaseSettings, RunnerSettings, SandboxSettings, Settings

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
SERVERS = ("server-1", "server-2")
KUBERNETES_VERSIONS = ("1.33.0", "1.35.0", "1.37.0")
"""Recent releases; 1.37 is the newest the pinned kubernetes-validate knows."""


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """``GET`` paths of the app's route table."""
    folder = tmp_path_factory.mktemp("deploy-app")
    app = create_app(
        Settings(data_dir=folder, database=DatabaseSettings(url=f"sqlite:///{folder}/d.db"))
    )
    yield {path for path, ops in app.openapi()["paths"].items() if "get" in ops}
    app.state.db.dispose()


def is_setting(name: str) -> bool:
    """``VISUALBOX_SERVER__PORT`` names a field of :class:`Settings` (nested groups)."""
    if not name.startswith("VISUALBOX_"):
        return False
    model: type[BaseModel] = Settings
    parts = name.removeprefix("VISUALBOX_").lower().split("__")
    for n, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if n < len(parts) - 1:
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_the_setting_check_knows_real_settings_from_others() -> None:
    assert is_setting("VISUALBOX_HUB__URL") and is_setting("VISUALBOX_DATA_DIR")
    assert not is_setting("VISUALBOX_HUB__URI") and not is_setting("VISUALBOX_DATA_DIR__X")
    assert not is_setting("HUB__URL")


# --- docker compose ----------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_compose_has_two_servers_a_database_redis_and_a_load_balancer(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == {*SERVERS, "postgres", "redis", "caddy"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")
    for name, service in compose["services"].items():
        assert "healthcheck" in service or name == "caddy", name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in compose["volumes"], volume
        if name != "caddy":
            assert "ports" not in service, f"{name} is reached through the load balancer only"
    assert set(compose["services"]["caddy"]["ports"]) == {"80:80", "443:443", "8080:8080"}


def test_every_server_has_the_same_settings(compose: dict[str, Any]) -> None:
    servers = [compose["services"][name] for name in SERVERS]
    environment = servers[0]["environment"]
    for server in servers:
        same = {k: v for k, v in server.items() if k not in ("volumes", "depends_on")}
        first = {k: v for k, v in servers[0].items() if k not in ("volumes", "depends_on")}
        assert same == first
        assert server["env_file"] == [".env"]
    assert set(environment) >= {
        "VISUALBOX_DATABASE__URL",
        "VISUALBOX_HUB__URL",
        "VISUALBOX_SECURITY__SECRETS_KEY",
        "VISUALBOX_SECURITY__REGISTRY_KEY",
        "VISUALBOX_SERVER__PUBLIC_URL",
        "VISUALBOX_FRAMES__ORIGIN",
    }
    assert all(is_setting(name) for name in environment), environment
    postgres = compose["services"]["postgres"]["environment"]
    database = environment["VISUALBOX_DATABASE__URL"]
    assert database.startswith(f"postgresql+psycopg://{postgres['POSTGRES_USER']}:")
    assert database.endswith(f"@postgres:5432/{postgres['POSTGRES_DB']}")
    assert environment["VISUALBOX_HUB__URL"] == "redis://redis:6379/0"
    # Each node keeps its own data folder (the dependencies cache), on a volume.
    mounts = [server["volumes"] for server in servers]
    assert all(m[0].endswith(f":{environment['VISUALBOX_DATA_DIR']}") for m in mounts)
    assert len({m[0] for m in mounts}) == len(servers)


def test_servers_start_after_the_database_and_redis_answer(compose: dict[str, Any]) -> None:
    for name in SERVERS:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"] == depends["redis"] == {"condition": "service_healthy"}
    # One node migrates a new database before the other starts.
    assert compose["services"]["server-2"]["depends_on"]["server-1"] == {
        "condition": "service_healthy"
    }


def test_the_servers_healthcheck_is_the_readiness_route(
    compose: dict[str, Any], routes: set[str]
) -> None:
    port = compose["services"]["server-1"]["environment"]["VISUALBOX_SERVER__PORT"]
    for name in SERVERS:
        test = compose["services"][name]["healthcheck"]["test"]
        urls = re.findall(r"http://[^'\" ]+", " ".join(test))
        assert urls == [f"http://127.0.0.1:{port}/api/health/ready"], test
        assert path_of(urls[0]) in routes
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"http://127.0.0.1:{port}/api/health/ready" in dockerfile


def test_the_load_balancer_sends_both_origins_to_every_server(
    compose: dict[str, Any], routes: set[str]
) -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    port = compose["services"]["server-1"]["environment"]["VISUALBOX_SERVER__PORT"]
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    assert upstreams.group(1).split() == [f"{name}:{port}" for name in SERVERS]
    health = re.search(r"health_uri (\S+)", caddyfile)
    assert health is not None and health.group(1) == "/api/health/ready"
    assert health.group(1) in routes
    assert "{$SITE_ADDRESS}, {$FRAMES_SITE_ADDRESS}" in caddyfile
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in compose["services"]["caddy"]["volumes"]


def test_the_env_example_names_every_variable_compose_needs(compose: dict[str, Any]) -> None:
    example = (DEPLOY / ".env.example").read_text()
    given = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    needed = set(re.findall(r"\$\{([A-Z_]+)", (DEPLOY / "compose.yaml").read_text()))
    assert needed <= given, needed - given
    assert all(is_setting(name) for name in given if name.startswith("VISUALBOX_"))


def test_the_image_has_what_the_sandbox_needs() -> None:
    """Every Debian package ``scripts/system-packages run`` installs, and the package."""
    script = (ROOT / "scripts" / "system-packages").read_text()
    run_part = script.split("if [[ $what == test ]]", 1)[0]
    packages = set(re.findall(r"\]=([a-z0-9.-]+)", run_part)) | {"libseccomp2"}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    install = re.search(r"apt-get install[^\n]*\\\n((?:[^\n]*\\\n)*)", dockerfile)
    assert install is not None
    listed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", install.group(1).split("&&")[0]))
    assert {"bubblewrap", "slirp4netns", "iptables", "nodejs"} <= packages  # parsed
    assert packages <= listed, packages - listed
    assert "pip install --no-cache-dir ." in dockerfile


# --- Kubernetes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    found = [
        document
        for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    return found


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_manifests_are_valid_kubernetes(manifests: list[dict[str, Any]], version: str) -> None:
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == sorted(
        ["Namespace", "ConfigMap", "Secret", "Deployment", "Service", "Ingress",
         "PodDisruptionBudget"]
    )  # fmt: skip
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)
        assert manifest["metadata"].get("namespace", "visualbox") == "visualbox"


def test_the_validator_refuses_a_broken_manifest(manifests: list[dict[str, Any]]) -> None:
    """The check above really checks: a probe with a misspelt field is refused."""
    broken = copy.deepcopy(one(manifests, "Deployment"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["paht"] = container["readinessProbe"]["httpGet"].pop(
        "path"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_probes_ask_the_health_routes(
    manifests: list[dict[str, Any]], routes: set[str]
) -> None:
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = one(manifests, "ConfigMap")["data"]
    assert ports == {"http": int(config["VISUALBOX_SERVER__PORT"])}
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("readinessProbe", "livenessProbe", "startupProbe")
    }
    assert probes["readinessProbe"]["path"] == "/api/health/ready"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/api/health"
    for probe in probes.values():
        assert probe["path"] in routes and probe["port"] == "http"
    # The readiness check gives each part 2 s: the probe waits longer than that.
    assert container["readinessProbe"]["timeoutSeconds"] > 2
    assert {"requests", "limits"} <= set(container["resources"])
    assert container["securityContext"]["privileged"] is True  # the sandbox: see the comment
    labels = one(manifests, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


def test_the_settings_are_real_and_shared_by_every_pod(manifests: list[dict[str, Any]]) -> None:
    config, secret = one(manifests, "ConfigMap"), one(manifests, "Secret")
    names = [*config["data"], *secret["stringData"]]
    assert all(is_setting(name) for name in names), names
    assert {
        "VISUALBOX_DATABASE__URL",
        "VISUALBOX_SECURITY__SECRETS_KEY",
        "VISUALBOX_SECURITY__REGISTRY_KEY",
    } <= set(secret["stringData"])
    assert "VISUALBOX_HUB__URL" in config["data"]
    container = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    sources = {
        (kind, source[kind]["name"])
        for source in container["envFrom"]
        for kind in ("configMapRef", "secretRef")
        if kind in source
    }
    assert sources == {
        ("configMapRef", config["metadata"]["name"]),
        ("secretRef", secret["metadata"]["name"]),
    }


def test_the_service_and_ingress_reach_the_pods_on_both_origins(
    manifests: list[dict[str, Any]],
) -> None:
    deployment, service = one(manifests, "Deployment"), one(manifests, "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    ingress = one(manifests, "Ingress")
    config = one(manifests, "ConfigMap")["data"]
    origins = {
        urlsplit(config["VISUALBOX_SERVER__PUBLIC_URL"]).hostname,
        urlsplit(config["VISUALBOX_FRAMES__ORIGIN"]).hostname,
    }
    rules = ingress["spec"]["rules"]
    assert {rule["host"] for rule in rules} == origins
    for rule in rules:
        (path,) = rule["http"]["paths"]
        assert path["path"] == "/" and path["pathType"] == "Prefix"
        backend = path["backend"]["service"]
        assert backend == {"name": service["metadata"]["name"], "port": {"name": port["name"]}}
    annotations = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):  # WebSockets stay open
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600


# --- Every Kubernetes file under deploy/, and the integrations' namespace -----------

RUNNER = DEPLOY / "kubernetes" / "runner"
RUNNER_FILES = ("namespace", "networkpolicy", "runtimeclass", "limitrange", "resourcequota")
INTEGRATION_PODS = {"app.kubernetes.io/component": "integration"}
BLOCKED = frozenset(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # private
        "169.254.0.0/16",  # link-local: cloud metadata
        "100.64.0.0/10",  # shared (carrier-grade NAT)
        "127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4",
    )
)  # fmt: skip
"""What the integrations' NetworkPolicy keeps them from: docs/kubernetes.md."""


@pytest.fixture(scope="module")
def deploy_yaml() -> dict[Path, list[Any]]:
    """Every YAML file under deploy/, at any depth, and its documents."""
    paths = sorted({*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")})
    return {p: [d for d in yaml.safe_load_all(p.read_text()) if d is not None] for p in paths}


@pytest.fixture(scope="module")
def runner(deploy_yaml: dict[Path, list[Any]]) -> list[dict[str, Any]]:
    """The documents of deploy/kubernetes/runner/."""
    return [
        d for path, documents in deploy_yaml.items() if path.parent == RUNNER for d in documents
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kubernetes_file_under_deploy_is_valid(
    deploy_yaml: dict[Path, list[Any]], version: str
) -> None:
    """Found by glob, so a file added later (the runner's rbac.yaml) is checked too; only
    compose.yaml is not Kubernetes."""
    assert {RUNNER / f"{name}.yaml" for name in RUNNER_FILES} <= set(deploy_yaml)
    for path, documents in deploy_yaml.items():
        if path == DEPLOY / "compose.yaml":
            assert "services" in documents[0]
            continue
        assert documents, f"{path} holds no document"
        for document in documents:
            assert {"apiVersion", "kind", "metadata"} <= set(document), path
            kubernetes_validate.validate(document, version, strict=True)


def test_the_integrations_namespace_is_restricted_and_apart_from_the_server(
    runner: list[dict[str, Any]], manifests: list[dict[str, Any]]
) -> None:
    namespace = one(runner, "Namespace")
    name = namespace["metadata"]["name"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert name != one(manifests, "Namespace")["metadata"]["name"]
    mine = [m for m in runner if m["kind"] in ("NetworkPolicy", "LimitRange", "ResourceQuota")]
    assert len(mine) == 4
    for manifest in mine:
        assert manifest["metadata"]["namespace"] == name, manifest["metadata"]["name"]


def test_the_integrations_namespace_denies_all_traffic_by_default(
    runner: list[dict[str, Any]],
) -> None:
    policies = [m for m in runner if m["kind"] == "NetworkPolicy"]
    assert len(policies) == 2, "policies add up: any other would widen what pods reach"
    (deny,) = [p["spec"] for p in policies if p["spec"]["podSelector"] == {}]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert not deny.get("ingress") and not deny.get("egress")


def integrations_policy(runner: list[dict[str, Any]]) -> dict[str, Any]:
    (policy,) = [
        m["spec"]
        for m in runner
        if m["kind"] == "NetworkPolicy"
        and m["spec"]["podSelector"].get("matchLabels") == INTEGRATION_PODS
    ]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert not policy.get("ingress"), "nothing may connect to an integration pod"
    for rule in policy["egress"]:
        assert rule.get("to"), "a rule without `to` allows every destination"
    return policy


def reachable(policy: dict[str, Any], address: str) -> bool:
    """Whether an ``ipBlock`` of the policy's egress rules lets ``address`` through."""
    ip = ipaddress.ip_address(address)
    for rule in policy["egress"]:
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block and ip in ipaddress.ip_network(block["cidr"]):
                if not any(ip in ipaddress.ip_network(e) for e in block.get("except", [])):
                    return True
    return False


def test_integration_pods_reach_the_server_pods_and_dns_only_on_their_ports(
    runner: list[dict[str, Any]], manifests: list[dict[str, Any]]
) -> None:
    policy = integrations_policy(runner)
    deployment = one(manifests, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    server_ports = {("TCP", port["containerPort"]) for port in container["ports"]}
    selected: dict[str, tuple[dict[str, str], set[tuple[str, int]]]] = {}
    for rule in policy["egress"]:
        ports = {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}
        for peer in rule["to"]:
            if "ipBlock" not in peer:
                namespace = peer["namespaceSelector"]["matchLabels"]
                assert set(namespace) == {"kubernetes.io/metadata.name"}
                selected[namespace["kubernetes.io/metadata.name"]] = (
                    peer["podSelector"]["matchLabels"],
                    ports,
                )
    server_namespace = deployment["metadata"]["namespace"]
    assert set(selected) == {server_namespace, "kube-system"}
    labels, ports = selected[server_namespace]
    assert labels and labels.items() <= pod_labels.items(), "selects the server's pods"
    assert ports == server_ports
    assert selected["kube-system"] == ({"k8s-app": "kube-dns"}, {("UDP", 53), ("TCP", 53)})


def test_integration_pods_reach_the_public_internet_and_nothing_private(
    runner: list[dict[str, Any]],
) -> None:
    policy = integrations_policy(runner)
    internet = [rule for rule in policy["egress"] if any("ipBlock" in p for p in rule["to"])]
    assert len(internet) == 1 and not internet[0].get("ports"), "one rule, every port"
    (block,) = [peer["ipBlock"] for peer in internet[0]["to"]]
    assert block["cidr"] == "0.0.0.0/0"
    assert {ipaddress.ip_network(network) for network in block["except"]} == BLOCKED
    for address in (
        "169.254.169.254", "10.96.0.1", "172.16.0.1", "172.31.255.254", "192.168.1.20",
        "100.64.0.1", "127.0.0.1", "0.1.2.3", "224.0.0.251", "255.255.255.255",
        "fd00:ec2::254", "2606:4700:4700::1111", "::1",  # IPv6: none at all
    ):  # fmt: skip
        assert not reachable(policy, address), address
    for address in ("1.1.1.1", "8.8.8.8", "11.0.0.1", "100.128.0.1", "172.32.0.1", "192.169.0.1"):
        assert reachable(policy, address), address
    # The check above really checks: without the link-local range, metadata is reachable.
    block["except"] = [e for e in block["except"] if e != "169.254.0.0/16"]
    assert reachable(policy, "169.254.169.254")


def test_the_runtime_class_is_gvisor(runner: list[dict[str, Any]]) -> None:
    runtime_class = one(runner, "RuntimeClass")
    assert runtime_class["metadata"]["name"] == "gvisor"
    assert runtime_class["handler"] == "runsc"


UNITS = {"": Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6),
         "G": Fraction(10**9), "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30),
         "Ti": Fraction(2**40)}  # fmt: skip
MiB = 2**20


def quantity(value: str | int) -> Fraction:
    """A Kubernetes quantity: ``500m`` cores, ``256Mi`` bytes, ``"2"``."""
    match = re.fullmatch(r"(\d+)([a-zA-Z]*)", str(value))
    assert match is not None and match.group(2) in UNITS, value
    return int(match.group(1)) * UNITS[match.group(2)]


def test_the_limits_fit_an_integration_and_the_quota_fits_the_limits(
    runner: list[dict[str, Any]],
) -> None:
    sandbox = SandboxSettings()
    (limit,) = one(runner, "LimitRange")["spec"]["limits"]
    assert limit["type"] == "Container"
    default, request, maximum = (
        {name: quantity(v) for name, v in limit[key].items()}
        for key in ("default", "defaultRequest", "max")
    )
    assert set(default) == set(request) == set(maximum) == {"cpu", "memory", "ephemeral-storage"}
    # A container naming nothing gets what a local run gets by default.
    assert default["cpu"] == Fraction(sandbox.cpu) and default["memory"] == sandbox.memory_mb * MiB
    for name in maximum:
        assert request[name] <= default[name] <= maximum[name], name
    # A dependency install (its /deps and /tmp in memory) is not refused.
    assert maximum["cpu"] >= 1
    assert maximum["memory"] >= (sandbox.prepare_memory_mb + sandbox.prepare_disk_mb) * MiB
    assert maximum["ephemeral-storage"] >= 2 * sandbox.prepare_disk_mb * MiB
    hard = one(runner, "ResourceQuota")["spec"]["hard"]
    pods = quantity(hard["pods"])
    assert pods >= 1 and hard["services"] == "0"
    capped = {key for key in hard if key.startswith(("requests.", "limits."))}
    assert capped == {f"{kind}.{name}" for kind in ("requests", "limits") for name in default}
    for key in capped:
        kind, name = key.split(".", 1)
        per_pod = request[name] if kind == "requests" else default[name]
        # At the defaults the pod count binds first, and the largest container fits.
        assert quantity(hard[key]) >= max(pods * per_pod, maximum[name]), key


@pytest.fixture(scope="module")
def integration_pod() -> dict[str, Any]:
    """A run's pod as the Kubernetes runner makes it with the default settings."""
    return pod_manifest(
        "visualbox-check",
        runtime="python",
        node="node-a",
        channel_url="ws://node-a.visualbox.svc:8000/api/runner/channel",
        pod_token="token",
        runner=RunnerSettings(),
        sandbox=SandboxSettings(),
        run_id="dashboard/instance",
        generation=1,
    )


def test_the_runners_pods_fit_the_integrations_namespace(
    runner: list[dict[str, Any]], integration_pod: dict[str, Any]
) -> None:
    """The runner's own pod (runtime/runners/kubernetes_pods.py) goes to this namespace,
    is the one the network policy lets out, runs under this RuntimeClass, passes the
    LimitRange, and the quota admits as many of them as it admits pods."""
    metadata, spec = integration_pod["metadata"], integration_pod["spec"]
    assert metadata["namespace"] == one(runner, "Namespace")["metadata"]["name"]
    selector = integrations_policy(runner)["podSelector"]["matchLabels"]
    assert selector.items() <= metadata["labels"].items()
    assert spec["runtimeClassName"] == one(runner, "RuntimeClass")["metadata"]["name"]
    (limit,) = one(runner, "LimitRange")["spec"]["limits"]
    hard = one(runner, "ResourceQuota")["spec"]["hard"]
    totals: dict[str, Fraction] = {}
    for container in spec["containers"]:
        resources = container["resources"]
        for name, value in limit["max"].items():
            assert quantity(resources["limits"][name]) <= quantity(value), name
        for kind in ("requests", "limits"):
            for name, value in resources[kind].items():
                key = f"{kind}.{name}"
                totals[key] = totals.get(key, Fraction(0)) + quantity(value)
    assert set(totals) == {key for key in hard if key.startswith(("requests.", "limits."))}
    for key, total in totals.items():
        assert quantity(hard[key]) >= quantity(hard["pods"]) * total, key
    # It runs the launcher the runtime images start.
    (container,) = spec["containers"]
    assert ENTRYPOINT[1] in container["command"] and container["command"][-1] == "--pod"


# --- The runtime images (deploy/images/) ----------------------------------------------

IMAGES = DEPLOY / "images"
RUNTIMES: tuple[Runtime, ...] = ("python", "node", "go")
LAUNCHER_SOURCE = "src/visualbox/sdk/launcher"
ENTRYPOINT = ["python3", f"{LAUNCHER_MOUNT}/{LAUNCHER}", "--pod"]
PACKAGES = {"python": {"python3"}, "node": {"nodejs"}, "go": {"golang-go"}}
WRITABLE = ("/work/", "/tmp/")
"""The only writable folders of an integration pod (emptyDir volumes)."""


def containerfile(runtime: str) -> Path:
    return IMAGES / f"runtime-{runtime}.Containerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """``(KEYWORD, arguments)`` of each instruction; continued lines joined and comment
    lines dropped, also inside a continuation, as the builders do."""
    steps, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not (current or line.strip()):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).strip().partition(" ")
        steps.append((keyword.upper(), arguments.strip()))
        current = ""
    assert not current, f"{path} ends in a continued line"
    return steps


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(n for n, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last:]


def pairs(steps: list[tuple[str, str]], keyword: str) -> dict[str, str]:
    """The ``NAME=value`` words of every ``ENV`` or ``LABEL``, shell-quoted."""
    found = {}
    for word in (w for k, a in steps if k == keyword for w in shlex.split(a)):
        name, equals, value = word.partition("=")
        assert equals, f"{keyword} {word}: write NAME=value"
        found[name] = value
    return found


def copies(steps: list[tuple[str, str]]) -> list[tuple[str | None, tuple[str, ...], str]]:
    """``(--from or None, sources, destination)`` of each ``COPY``."""
    found = []
    for arguments in (a for k, a in steps if k == "COPY"):
        assert not arguments.startswith("["), "COPY in its plain form, please"
        words = shlex.split(arguments)
        options = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
        paths = [w for w in words if not w.startswith("--")]
        found.append((options.get("from"), tuple(paths[:-1]), paths[-1]))
    return found


def run_text(steps: list[tuple[str, str]]) -> str:
    return " ".join(" ".join(a.split()) for k, a in steps if k == "RUN")


def test_the_containerfile_reader_joins_lines_and_drops_comments(tmp_path: Path) -> None:
    path = tmp_path / "Containerfile"
    path.write_text("FROM a:1\n\n# c\nENV A=1 \\\n# inside\n    B='x y'\nUSER 1\n")
    steps = instructions(path)
    assert steps == [("FROM", "a:1"), ("ENV", "A=1      B='x y'"), ("USER", "1")]
    assert pairs(steps, "ENV") == {"A": "1", "B": "x y"}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_image_starts_from_a_pinned_debian_12_slim(runtime: str) -> None:
    steps = instructions(containerfile(runtime))
    stages: set[str] = set()
    for arguments in (a for k, a in steps if k == "FROM"):
        words = [w for w in arguments.split() if not w.startswith("--")]
        reference = words[0].partition("@")[0]
        tag = reference.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", f"FROM {words[0]}: pin a tag"
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    for source, _, _ in copies(steps):
        assert source is None or source in stages, f"COPY --from={source}: name a stage"
    final = final_stage(steps)[0][1].split()[0].partition("@")[0]
    image, tag = final.rsplit(":", 1)
    assert image in ("debian", "docker.io/library/debian")
    assert re.fullmatch(r"(12(\.\d+)?|bookworm)(-\d{8})?-slim", tag), tag
    # Dependencies are prepared on the server node, with its /usr: the same Debian.
    (server,) = [a for k, a in instructions(DEPLOY / "Dockerfile") if k == "FROM"]
    assert server.split(":", 1)[1].endswith("-bookworm"), server
    build = f"docker build -f deploy/images/{containerfile(runtime).name} -t visualbox/runtime-"
    assert build in containerfile(runtime).read_text(), "the header says how to build it"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_image_runs_the_launcher_as_65534_in_work(runtime: str) -> None:
    final = final_stage(instructions(containerfile(runtime)))
    users = [a for k, a in final if k == "USER"]
    # Numeric: the kubelet can check runAsNonRoot only on a number.
    assert users and re.fullmatch(r"65534(:65534)?", users[-1]), users
    assert [a for k, a in final if k == "WORKDIR"][-1] == HOME == pairs(final, "ENV")["HOME"]
    entrypoints = [a for k, a in final if k == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ENTRYPOINT
    assert not [a for k, a in final if k in ("CMD", "VOLUME")], "CMD would add arguments"
    assert f"install -d -o 65534 -g 65534 -m 0700 {HOME}" in run_text(final)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_image_copies_the_sdk_and_the_launcher_from_the_repository(
    runtime: str,
) -> None:
    final = final_stage(instructions(containerfile(runtime)))
    from_repository = [(s, d) for source, s, d in copies(final) if source is None]
    sdk = f"src/visualbox/sdk/{runtime}"
    assert ((f"{sdk}/",), f"{SDK}/{runtime}/") in from_repository
    assert ((f"{LAUNCHER_SOURCE}/",), f"{LAUNCHER_MOUNT}/") in from_repository
    # Where local runs take them from.
    assert (ROOT / sdk).resolve() == SDK_DIR / runtime
    assert (ROOT / LAUNCHER_SOURCE).resolve() == LAUNCHER_DIR
    sources = [source.rstrip("/") for paths, _ in from_repository for source in paths]
    for source in sources:
        assert (ROOT / source).exists(), f"{containerfile(runtime).name} copies {source}"
    assert (ROOT / LAUNCHER_SOURCE / LAUNCHER).is_file(), "the launcher"
    # BuildKit sends only what the ignore file next to the Containerfile lets through.
    ignore = Path(f"{containerfile(runtime)}.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    kept = [p[1:].strip("/") for p in patterns if p.startswith("!")]
    for source in sources:
        assert any(source == k or source.startswith(f"{k}/") for k in kept), source


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_image_installs_its_runtime_python_and_the_ca_store(runtime: str) -> None:
    final = final_stage(instructions(containerfile(runtime)))
    run = run_text(final)
    install = re.search(r"apt-get install ((?:-\S+ )*)([^&]+)", run)
    assert install is not None and "--no-install-recommends" in install.group(1)
    packages = set(install.group(2).split())
    assert {"python3", "ca-certificates"} | PACKAGES[runtime] <= packages
    assert "rm -rf /var/lib/apt/lists/*" in run
    # The CA store where every local run sees it, and the variables local runs get.
    assert f"ln -s /etc/ssl/certs/ca-certificates.crt {CA_FILE}" in run
    assert CA_ENV.items() <= pairs(final, "ENV").items()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_image_sets_what_a_local_run_gets(runtime: Runtime, tmp_path: Path) -> None:
    """The environment of ``layout.run_spec`` but the descriptors and PATH (the launcher
    sets those for its child): HOME, LANG, the SDK's path, Python's flags."""
    module = ModuleSource(tmp_path, runtime, "0" * 64)
    spec = run_spec(
        module,
        tmp_path if runtime == "go" else None,
        limits=Limits(),
        network="outbound",
        allow_host_ports=(),
        config_fd=3,
        output_fd=4,
    )
    local = {k: v for k, v in spec.env.items() if k != "PATH" and not k.startswith("VISUALBOX_")}
    expected = {"python": {"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"},
                "node": {"NODE_PATH"}, "go": set()}[runtime]  # fmt: skip
    assert {"HOME", "LANG", *expected} <= set(local)
    env = pairs(final_stage(instructions(containerfile(runtime))), "ENV")
    assert local.items() <= env.items()
    labels = pairs(final_stage(instructions(containerfile(runtime))), "LABEL")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert labels["org.opencontainers.image.title"] == f"visualbox-runtime-{runtime}"
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert {"description", "version", "revision"} <= {
        name.removeprefix("org.opencontainers.image.") for name in labels
    }


def test_the_go_image_builds_in_tmp_without_downloads() -> None:
    final = final_stage(instructions(containerfile("go")))
    env = pairs(final, "ENV")
    gopath = env["GOPATH"].split(":")
    assert gopath[0].startswith(WRITABLE)
    for name in ("GOCACHE", "GOMODCACHE", "GOTMPDIR"):
        assert f"{env[name]}/".startswith(WRITABLE), name
    assert env["GOTOOLCHAIN"] == "local" and env["GOPROXY"] == "off"
    assert env["CGO_ENABLED"] == "0" and env["GOENV"] == "off"  # as prepare.py builds
    assert "-trimpath" not in env["GOFLAGS"].split()  # it would recompile the std library
    # The SDK is package "visualbox" in GOPATH mode (the read-only entries) and a module.
    run = run_text(final)
    assert len(gopath) > 1
    for entry in gopath[1:]:
        assert f"ln -s {SDK}/go/visualbox {entry}/src/visualbox" in run
    assert "printf 'module visualbox\\n" in run and f"> {SDK}/go/visualbox/go.mod" in run


def test_the_kubernetes_page_names_every_image_and_runner_file() -> None:
    page = (ROOT / "docs" / "kubernetes.md").read_text()
    files = [*IMAGES.glob("*.Containerfile"), DEPLOY / "Dockerfile", *RUNNER.glob("*.yaml")]
    assert len(files) >= 4 + len(RUNNER_FILES)
    for path in files:
        assert path.relative_to(ROOT).as_posix() in page, path
    for heading in ("Settings", "RBAC", "Warm pools and pre-built dependencies", "Troubleshooting"):
        assert f"\n## {heading}\n" in page, heading
    assert "(kubernetes.md)" in (ROOT / "docs" / "scaling.md").read_text()
