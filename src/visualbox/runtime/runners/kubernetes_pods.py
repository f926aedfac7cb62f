"""What the Kubernetes runner sends to the API server, and how it reads pods back.

Pure functions, no I/O: the pod manifest of an integration (hardened: non-root,
read-only root filesystem, no service-account token, seccomp ``RuntimeDefault``,
every capability dropped, the limits of :class:`~visualbox.settings.SandboxSettings`),
its labels, the JSON patch that claims a warm pod, the label selectors, and
:func:`pod_exit`, which turns a pod's status into the same :class:`ExitInfo` the
local sandbox reports. ``tests/runtime/test_kubernetes_runner.py`` validates every
manifest against the Kubernetes schemas.

A pod's spec never holds a config value or a source: only the image, the URL of
the channel to this server node and a single-use pod token (``pod.py`` of the
launcher connects with it and receives everything else over the channel).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from visualbox.runtime.layout import APP, DEPS, HOME, LAUNCHER, LAUNCHER_MOUNT, PYTHON
from visualbox.runtime.sandbox.base import ExitInfo, ExitReason, exit_of_status
from visualbox.settings import RunnerSettings, SandboxSettings

DOMAIN = "visualbox.dev"
MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
NODE = f"{DOMAIN}/node"
RUNTIME = f"{DOMAIN}/runtime"
STATE = f"{DOMAIN}/state"
"""``warm`` (idle, waiting for work) or ``run`` (created for, or claimed by, a run)."""
DASHBOARD = f"{DOMAIN}/dashboard"
INSTANCE = f"{DOMAIN}/instance"
GENERATION = f"{DOMAIN}/generation"
RUN_ID = f"{DOMAIN}/run-id"
"""Annotation: the run id as given (labels hold a sanitised form)."""
CONTAINER = "integration"
CHANNEL_PATH = "/api/runner/channel"
CHANNEL_ENV = "VISUALBOX_CHANNEL_URL"
TOKEN_ENV = "VISUALBOX_POD_TOKEN"
POD_COMMAND = [PYTHON, "-s", "-S", f"{LAUNCHER_MOUNT}/{LAUNCHER}", "--pod"]
"""The launcher in pod mode (``sdk/launcher/pod.py``): the container's only command."""
UID = 65534
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
START_FAILURES = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)
_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def label_value(raw: str) -> str:
    """``raw`` as a label value (at most 63 of ``[A-Za-z0-9_.-]``, alphanumeric at both
    ends). A value that had to change gets a short hash of ``raw``, so two run ids never
    share a label; the raw value goes in an annotation."""
    clean = _LABEL_BAD.sub("-", raw).strip("-_.")
    if clean == raw and len(raw) <= 63:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
    return f"{clean[:52].rstrip('-_.')}-{digest}".lstrip("-")


def node_labels(node: str) -> dict[str, str]:
    """The labels every pod of server node ``node`` carries."""
    return {MANAGED_BY: "visualbox", COMPONENT: "integration", NODE: label_value(node)}


def node_selector(node: str) -> str:
    """The label selector of ``node``'s pods."""
    return ",".join(f"{key}={value}" for key, value in node_labels(node).items())


def instance_selector(run_id: str) -> str:
    """The label selector of every pod of the run ``run_id``, on any node."""
    return f"{MANAGED_BY}=visualbox,{INSTANCE}={label_value(run_id)}"


def run_labels(run_id: str, generation: int | None) -> dict[str, str]:
    """The labels that tie a pod to a run: its dashboard, instance and lease generation."""
    room = run_id.split("/", 1)[0]
    dashboard = room.removeprefix("dashboard:")  # a live room is "dashboard:<id>"
    labels = {STATE: "run", DASHBOARD: label_value(dashboard), INSTANCE: label_value(run_id)}
    if generation is not None:
        labels[GENERATION] = str(generation)
    return labels


def pod_manifest(
    name: str,
    *,
    runtime: str,
    node: str,
    channel_url: str,
    pod_token: str,
    runner: RunnerSettings,
    sandbox: SandboxSettings,
    run_id: str | None = None,
    generation: int | None = None,
) -> dict[str, Any]:
    """The pod of one integration run, or, without ``run_id``, an idle warm pod."""
    labels = {**node_labels(node), RUNTIME: runtime}
    annotations: dict[str, str] = {}
    if run_id is None:
        labels[STATE] = "warm"
    else:
        labels.update(run_labels(run_id, generation))
        annotations[RUN_ID] = run_id
    disk = f"{sandbox.disk_mb}Mi"
    # /work, /tmp and /app hold at most disk_mb each, /deps the prepared dependencies.
    ephemeral = 3 * sandbox.disk_mb + sandbox.prepare_disk_mb
    limits = {
        "cpu": _cpu(sandbox.cpu),
        "memory": f"{sandbox.memory_mb}Mi",
        "ephemeral-storage": f"{ephemeral}Mi",
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",  # the live service restarts a crashed run, with back-off
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER,
                "image": runner.images[runtime],
                "imagePullPolicy": "IfNotPresent",
                "command": list(POD_COMMAND),
                "workingDir": HOME,
                "env": [
                    {"name": CHANNEL_ENV, "value": channel_url},
                    {"name": TOKEN_ENV, "value": pod_token},
                    {"name": "HOME", "value": HOME},
                    {"name": "LANG", "value": "C.UTF-8"},
                ],
                "resources": {"limits": limits, "requests": dict(limits)},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "privileged": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    {"name": "work", "mountPath": HOME},
                    {"name": "tmp", "mountPath": "/tmp"},
                    {"name": "app", "mountPath": APP},
                    {"name": "deps", "mountPath": DEPS},
                ],
            }
        ],
        "volumes": [
            {"name": "work", "emptyDir": {"sizeLimit": disk}},
            {"name": "tmp", "emptyDir": {"sizeLimit": disk}},
            {"name": "app", "emptyDir": {"sizeLimit": disk}},
            {"name": "deps", "emptyDir": {"sizeLimit": f"{sandbox.prepare_disk_mb}Mi"}},
        ],
    }
    if runner.runtime_class:
        spec["runtimeClassName"] = runner.runtime_class
    metadata: dict[str, Any] = {"name": name, "namespace": runner.namespace, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def claim_patch(run_id: str, generation: int | None) -> list[dict[str, Any]]:
    """The JSON patch that makes a warm pod the pod of ``run_id``: it fails (the API
    server answers 422) unless the pod is still ``warm``, so a pod is claimed once."""
    path = "/metadata/labels/"
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": path + _pointer(STATE), "value": "warm"},
    ]
    ops += [
        {"op": "add", "path": path + _pointer(key), "value": value}
        for key, value in run_labels(run_id, generation).items()
    ]
    ops.append({"op": "add", "path": "/metadata/annotations", "value": {RUN_ID: run_id}})
    return ops


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _cpu(cores: float) -> str:
    return f"{max(1, round(cores * 1000))}m"


def pod_exit(pod: Mapping[str, Any]) -> ExitInfo | None:
    """How the pod's integration ended, as the local sandbox would say it; ``None``
    while it has not ended (pending, pulling, running)."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        if container.get("name") != CONTAINER:
            continue
        state = container.get("state") or {}
        ended = state.get("terminated")
        if ended:
            code = ended.get("exitCode")
            if ended.get("reason") == "OOMKilled":
                return ExitInfo(code, ExitReason.OOM, "exceeded its memory limit (OOMKilled)")
            return exit_of_status(code)
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason") or ""
        message = f": {waiting['message']}" if waiting.get("message") else ""
        if reason in PULL_FAILURES:
            image = container.get("image") or "of the runtime"
            detail = f"the image {image} could not be pulled ({reason}{message})"
            return ExitInfo(None, ExitReason.CRASHED, detail)
        if reason in START_FAILURES:
            detail = f"the container could not be started ({reason}{message})"
            return ExitInfo(None, ExitReason.CRASHED, detail)
    if status.get("phase") == "Failed":  # evicted, or failed before any container ran
        why = status.get("message") or status.get("reason") or "the pod failed"
        return ExitInfo(None, ExitReason.CRASHED, f"the pod failed: {why}")
    return None
