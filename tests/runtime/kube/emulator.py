"""A Kubernetes API *emulator* for pods: no real API server can run on these machines.

It serves the part of the core/v1 API the Kubernetes runner and the test kubelet
use, with the real API's JSON shapes, so that the official client
(``kubernetes_asyncio``) talks to it unchanged:

* ``POST/GET /api/v1/namespaces/{ns}/pods`` (create; list with ``labelSelector``,
  or ``watch=true`` streaming ``ADDED``/``MODIFIED``/``DELETED`` events from the
  current objects or from a ``resourceVersion``);
* ``GET/PATCH/DELETE /api/v1/namespaces/{ns}/pods/{name}`` (merge patches, and JSON
  patches whose ``test`` operations are honoured: a failed one answers 422 and
  changes nothing, as on a real server);
* ``PATCH /api/v1/namespaces/{ns}/pods/{name}/status`` (what a kubelet reports).

Deletion is immediate (no graceful phase): the kubelet stops the pod's processes
when it sees the ``DELETED`` event. Every request is logged as a Kubernetes verb and
resource (``("patch", "pods/status")``), which the RBAC test compares with the Role.
``kmock`` (evaluated first) matches objects by name only: it has no label
selectors, no JSON-patch ``test`` and no status subresource, hence this file.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonpatch
from aiohttp import web

Pod = dict[str, Any]


def matches(labels: dict[str, str], selector: str) -> bool:
    """Whether ``labels`` satisfy a label selector (``k=v``, ``k!=v``, ``k``, ``!k``)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch (``None`` deletes a key)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip
    return web.json_response(body, status=code)


class Emulator:
    """The pods of every namespace, in memory, behind an aiohttp app."""

    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], Pod] = {}
        self.version = 0
        self.history: list[tuple[int, str, Pod]] = []
        self.requests: list[tuple[str, str, str]] = []
        """Each request as ``(verb, resource, user agent)``, e.g. ``("patch", "pods/status",
        ...)``: the Kubernetes verb and resource a Role would have to allow."""
        self.created: list[Pod] = []
        """Every pod as it was sent to be created (the request body)."""
        self.changed = threading.Condition()
        self._watchers: set[asyncio.Queue[tuple[int, str, Pod]]] = set()
        self.on_change: Callable[[], None] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        base = "/api/v1/namespaces/{ns}/pods"
        app.router.add_get(base, self.list_or_watch)
        app.router.add_post(base, self.create)
        app.router.add_get(base + "/{name}", self.get)
        app.router.add_patch(base + "/{name}", self.patch)
        app.router.add_patch(base + "/{name}/status", self.patch)
        app.router.add_delete(base + "/{name}", self.delete)
        return app

    # --- state ------------------------------------------------------------------------

    def snapshot(self) -> list[Pod]:
        """A copy of every pod (any thread)."""
        with self.changed:
            return [copy.deepcopy(p) for p in self.pods.values()]

    def _event(self, kind: str, pod: Pod) -> None:
        self.version += 1
        pod["metadata"]["resourceVersion"] = str(self.version)
        entry = (self.version, kind, copy.deepcopy(pod))
        self.history.append(entry)
        for queue in self._watchers:
            queue.put_nowait(entry)
        with self.changed:
            self.changed.notify_all()

    def _log(self, request: web.Request, verb: str, resource: str) -> None:
        self.requests.append((verb, resource, request.headers.get("User-Agent", "")))

    def close_watches(self) -> None:
        """End every watch stream (the server is stopping)."""
        for queue in self._watchers:
            queue.put_nowait((self.version, "CLOSED", {}))

    # --- handlers ---------------------------------------------------------------------

    async def list_or_watch(self, request: web.Request) -> web.StreamResponse:
        ns, query = request.match_info["ns"], request.query
        selector = query.get("labelSelector", "")
        if query.get("watch") in ("true", "1", "True"):
            self._log(request, "watch", "pods")
            return await self._watch(request, ns, selector, query.get("resourceVersion"))
        self._log(request, "list", "pods")
        items = [
            copy.deepcopy(pod)
            for (space, _), pod in self.pods.items()
            if space == ns and matches(pod["metadata"].get("labels") or {}, selector)
        ]
        meta = {"resourceVersion": str(self.version)}
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                                  "items": items})  # fmt: skip

    async def _watch(
        self, request: web.Request, ns: str, selector: str, since: str | None
    ) -> web.StreamResponse:
        queue: asyncio.Queue[tuple[int, str, Pod]] = asyncio.Queue()
        if since and since.isdigit():
            for entry in self.history:
                if entry[0] > int(since):
                    queue.put_nowait(entry)
        else:
            for pod in self.pods.values():
                queue.put_nowait((self.version, "ADDED", copy.deepcopy(pod)))
        self._watchers.add(queue)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            while True:
                _, kind, pod = await queue.get()
                if kind == "CLOSED":
                    break
                meta = pod["metadata"]
                if meta.get("namespace") != ns or not matches(meta.get("labels") or {}, selector):
                    continue
                await response.write(json.dumps({"type": kind, "object": pod}).encode() + b"\n")
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.discard(queue)
        return response

    async def create(self, request: web.Request) -> web.Response:
        self._log(request, "create", "pods")
        ns = request.match_info["ns"]
        pod = await request.json()
        self.created.append(copy.deepcopy(pod))
        name = pod.get("metadata", {}).get("name")
        if not name:
            return _status(422, "Invalid", "metadata.name: Required value")
        if (ns, name) in self.pods:
            return _status(409, "AlreadyExists", f'pods "{name}" already exists')
        pod["metadata"].update(
            namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=datetime.now(UTC).isoformat()
        )
        pod["status"] = {"phase": "Pending"}
        with self.changed:
            self.pods[(ns, name)] = pod
            self._event("ADDED", pod)
        return web.json_response(pod, status=201)

    def _found(self, request: web.Request) -> tuple[tuple[str, str], Pod | None]:
        key = (request.match_info["ns"], request.match_info["name"])
        return key, self.pods.get(key)

    async def get(self, request: web.Request) -> web.Response:
        self._log(request, "get", "pods")
        key, pod = self._found(request)
        if pod is None:
            return _status(404, "NotFound", f'pods "{key[1]}" not found')
        return web.json_response(pod)

    async def patch(self, request: web.Request) -> web.Response:
        status = request.path.endswith("/status")
        self._log(request, "patch", "pods/status" if status else "pods")
        key, pod = self._found(request)
        if pod is None:
            return _status(404, "NotFound", f'pods "{key[1]}" not found')
        body = await request.json()
        if request.content_type == "application/json-patch+json":
            try:
                changed = jsonpatch.apply_patch(pod, body, in_place=False)
            except (jsonpatch.JsonPatchTestFailed, jsonpatch.JsonPatchConflict) as exc:
                return _status(422, "Invalid", f"the JSON patch does not apply: {exc}")
        else:  # merge and strategic-merge patches: merged as JSON (enough for pods here)
            changed = merge(pod, body)
        if status:  # the status subresource changes the status only
            changed = {**pod, "status": changed.get("status", pod.get("status"))}
        else:
            changed["status"] = pod.get("status")
        with self.changed:
            self.pods[key] = changed
            self._event("MODIFIED", changed)
        return web.json_response(changed)

    async def delete(self, request: web.Request) -> web.Response:
        self._log(request, "delete", "pods")
        key, pod = self._found(request)
        if pod is None:
            return _status(404, "NotFound", f'pods "{key[1]}" not found')
        with self.changed:
            del self.pods[key]
            self._event("DELETED", pod)
        return web.json_response(pod)
