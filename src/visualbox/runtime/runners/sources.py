"""Fetching module sources from the server's runner API with a run token.

The local runner talks to the app in-process through an ASGI transport; a remote
runner gives a base URL instead. Both go through the same HTTP endpoint, the same
token check and the same hostile-archive extraction, and the content is checked
against the hash the token was issued for.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx2

from visualbox.errors import InvalidInput
from visualbox.modules.archive import extract_zip
from visualbox.modules.tree import FileTree, content_hash
from visualbox.runtime.runners.base import SourceRef

ARCHIVE_PATH = "/api/runner/modules/{module_id}/versions/{version}/archive"


class SourceUnavailable(Exception):
    """The server refused or could not deliver the source (bad token, changed, gone)."""


class SourceClient:
    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._client = httpx2.AsyncClient(base_url=base_url, transport=transport, timeout=timeout_s)

    async def fetch(self, ref: SourceRef, token: str) -> FileTree:
        path = ARCHIVE_PATH.format(
            module_id=quote(ref.module_id, safe=""), version=quote(ref.version, safe="")
        )
        try:
            response = await self._client.get(path, headers={"Authorization": f"Bearer {token}"})
        except httpx2.HTTPError as exc:
            raise SourceUnavailable(f"fetching {ref.module_id} failed: {exc}") from exc
        if response.status_code != 200:
            raise SourceUnavailable(
                f"fetching {ref.module_id} {ref.version} was refused ({response.status_code}): "
                f"{_message(response)}"
            )
        try:
            tree = extract_zip(response.content)
        except InvalidInput as exc:
            raise SourceUnavailable(f"the source of {ref.module_id} is not valid: {exc}") from exc
        if content_hash(tree) != ref.content_hash:
            raise SourceUnavailable(
                f"the source of {ref.module_id} {ref.version} changed since the run was requested"
            )
        return tree

    async def close(self) -> None:
        await self._client.aclose()


def _message(response: httpx2.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except Exception:
        return response.text[:200]
