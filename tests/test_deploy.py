"""The deployment files in deploy/ (docs/scaling.md) agree with the code.

There is no Docker or Kubernetes here: the compose file is checked for its structure
(services, the same settings on every server node, healthchecks and probes on routes
the app really has, real setting names), and the Kubernetes manifests are validated
offline against the API schemas ``kubernetes-validate`` ships."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from visualbox.app import create_app
from visualbox.settings import DatabaseSettings, Settings

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
