"""Frame tickets: capability URLs that serve one widget's files into a sandboxed iframe.

A widget is user-written HTML and JavaScript; the browser runs it in an
``<iframe sandbox="allow-scripts">`` whose document comes from
``<frames origin>/frames/<ticket>/`` (docs/widgets.md; the frames origin is never the
app's, docs/web.md). The ticket names exactly one (module, exact version or the
working copy, hash) and an expiry, and is sealed with the server's :class:`SecretBox`
(Fernet: encrypted and authenticated), so it cannot be forged, altered or read by its
holder. Whoever holds a ticket may read those files until it expires: tickets are
issued only to someone who may see the widget (see the ``*_frame(s)`` functions), and
a working-copy ticket stops working as soon as the working copy changes.

A working copy is named by :func:`listing_hash`, the hash of its (path, blob SHA-256)
list, so issuing a ticket or serving one file reads the file list and that one file,
never the whole working copy (a public dashboard's visitors hold such tickets).

Tickets are not revocable before they expire (after 12 to 13 hours): a visitor who
opened a public dashboard keeps its widgets' files for that long after the link is
disabled. The files are code the visitor's browser already ran.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.modules import Module, ModuleFile
from visualbox.errors import FieldError, Gone, InvalidInput, NotFound, VisualBoxError
from visualbox.modules.tree import FileTree, normalize_path
from visualbox.services import blobs, policy, registry
from visualbox.services.registry import ResolvedModule
from visualbox.services.secrets import SecretBox

TICKET_TTL = timedelta(hours=12)
MAX_TICKET_TTL = timedelta(days=7)
"""No ticket lives longer, whatever ``ttl`` its issuer asked for."""
EXPIRY_STEP = timedelta(hours=1)
_PURPOSE = "frame/1"
_MEMO_SIZE = 10_000
_MemoKey = tuple[str, str | None, str, int, tuple[str, ...]]
_memo: weakref.WeakKeyDictionary[SecretBox, OrderedDict[_MemoKey, str]] = (
    weakref.WeakKeyDictionary()
)
_memo_lock = threading.Lock()
_TICKET_RE = re.compile(r"[A-Za-z0-9_-]{40,2000}")
_DOCTYPE_RE = re.compile(rb"\A(\xef\xbb\xbf)?(\s|<!--.*?-->)*<!doctype[^>]*>", re.I | re.S)


@dataclass(frozen=True)
class FrameTicket:
    """What a valid ticket names."""

    module_id: str
    version: str | None
    """``None``: the owner's working copy."""
    content_hash: str
    """The version's content hash; for the working copy its :func:`listing_hash`."""
    expires_at: int
    """Unix time, seconds."""
    ancestors: tuple[str, ...] = ()
    """Origins that may frame it besides the app's: a public dashboard's embed origins."""


# -- issuing and opening ----------------------------------------------------------------


def issue_ticket(
    box: SecretBox,
    module_id: str,
    version: str | None,
    tree_hash: str,
    *,
    ttl: timedelta = TICKET_TTL,
    now: float | None = None,
    ancestors: tuple[str, ...] = (),
) -> str:
    """A sealed, URL-safe ticket (no ``=`` padding) for those exact files.

    The expiry is rounded up to the next :data:`EXPIRY_STEP`, and within one step the
    same files get the same ticket (memoised per box), so the URL is stable and a page
    reload reuses what the browser cached."""
    ttl = min(ttl, MAX_TICKET_TTL)
    step = EXPIRY_STEP.total_seconds()
    expires = int(math.ceil(((time.time() if now is None else now) + ttl.total_seconds()) / step))
    expires *= int(step)
    key = (module_id, version, tree_hash, expires, ancestors)
    with _memo_lock:
        memo = _memo.setdefault(box, OrderedDict())
        ticket = memo.get(key)
        if ticket is not None:
            memo.move_to_end(key)
            return ticket
    payload: dict[str, Any] = {
        "p": _PURPOSE,
        "m": module_id,
        "v": version,
        "h": tree_hash,
        "x": expires,
    }
    if ancestors:
        payload["a"] = list(ancestors)
    ticket = box.encrypt_json(payload).rstrip("=")
    with _memo_lock:
        memo[key] = ticket
        while len(memo) > _MEMO_SIZE:
            memo.popitem(last=False)
    return ticket


def frame_url(
    box: SecretBox,
    resolved: ResolvedModule,
    origin: str,
    *,
    ttl: timedelta = TICKET_TTL,
    ancestors: tuple[str, ...] = (),
) -> str:
    """``<origin>/frames/<ticket>/``: where the iframe of that exact widget version loads
    from; ``origin`` is the frames origin (``Settings.frames_origin``); ``ancestors``, the
    other origins that may frame it (an embedded public dashboard's)."""
    ticket = issue_ticket(
        box,
        resolved.module_id,
        resolved.version,
        resolved.content_hash,
        ttl=ttl,
        ancestors=ancestors,
    )
    return f"{origin}/frames/{ticket}/"


def open_ticket(box: SecretBox, ticket: str, *, now: float | None = None) -> FrameTicket:
    """The ticket's content; :class:`NotFound` if it is malformed, tampered or expired."""
    gone = NotFound("No such frame (the link may have expired: reload the page).")
    if not _TICKET_RE.fullmatch(ticket):
        raise gone
    raw = box.decrypt_fresh(ticket + "=" * (-len(ticket) % 4), int(MAX_TICKET_TTL.total_seconds()))
    if raw is None:
        raise gone
    try:
        payload: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise gone from None
    if not isinstance(payload, dict) or payload.get("p") != _PURPOSE:
        raise gone  # another kind of sealed token (a run token, dashboard secrets, ...)
    ancestors = tuple(payload.get("a", ()))
    found = FrameTicket(payload["m"], payload["v"], payload["h"], int(payload["x"]), ancestors)
    if found.expires_at <= (time.time() if now is None else now):
        raise gone
    return found


# -- reading the files ------------------------------------------------------------------


def frame_file(db: Session, ticket: FrameTicket, path: str) -> tuple[str, bytes]:
    """``(path, content)`` of one file named by ``ticket``; ``""`` and folders mean their
    ``index.html``. :class:`NotFound` if the module, version or file is gone, or the
    working copy changed since the ticket was issued. A working copy's file list and
    the one file asked for are all that is read."""
    if path == "" or path.endswith("/"):
        path += "index.html"
    try:
        path = normalize_path(path)
    except InvalidInput:
        raise NotFound("No such file.", [FieldError("path", "no such file")]) from None
    module = db.get(Module, ticket.module_id)
    if module is None or module.kind != "widget":
        note = registry.withdrawn_note(db, ticket.module_id)
        raise Gone(note) if note else NotFound("No such frame (the widget was deleted).")
    if ticket.version is None:
        listing = working_listing(db, module.id)
        if listing_hash(listing) != ticket.content_hash:
            raise NotFound("The widget changed since this frame was opened: reload it.")
        if path not in listing:
            raise NotFound("No such file.", [FieldError("path", "no such file")])
        return path, blobs.get_blob(db, listing[path])
    row = registry.get_version(db, module, ticket.version)
    if row.content_hash != ticket.content_hash:
        raise NotFound("No such frame.")
    registry.check_served(db, row)  # withdrawn: not even from the cache below
    files = _version_trees.get(row.content_hash)
    if files is None:
        files = registry.version_tree(db, row)
        _version_trees.put(row.content_hash, files)
    if path not in files:
        raise NotFound("No such file.", [FieldError("path", "no such file")])
    return path, files[path]


def working_listing(db: Session, module_id: str) -> dict[str, str]:
    """``{path: blob SHA-256}`` of every file of a working copy (no content is read)."""
    query = select(ModuleFile.path, ModuleFile.blob_sha).where(
        ModuleFile.module_id == module_id, ModuleFile.blob_sha.is_not(None)
    )
    return {path: sha for path, sha in db.execute(query) if sha is not None}


def listing_hash(listing: dict[str, str]) -> str:
    """SHA-256 hex of a working copy's file list. Blobs are named by the SHA-256 of
    their content, so it changes exactly when a file's path or content does."""
    digest = hashlib.sha256(b"visualbox-listing-v1\0")
    for path in sorted(listing):
        name = path.encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name + listing[path].encode("ascii"))
    return digest.hexdigest()


class _TreeCache:
    """Published versions never change: keep recently served ones, up to ``max_bytes``.

    A page load asks for each of a widget's files; without this, each request would
    read and unpack the version's whole archive."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._trees: OrderedDict[str, tuple[FileTree, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> FileTree | None:
        with self._lock:
            found = self._trees.get(key)
            if found is None:
                return None
            self._trees.move_to_end(key)
            return found[0]

    def put(self, key: str, tree: FileTree) -> None:
        size = sum(len(content) for content in tree.values())
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._trees:
                return
            self._trees[key] = (tree, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._trees.popitem(last=False)
                self._bytes -= dropped


_version_trees = _TreeCache(64 * 1024 * 1024)


def sdk_script(sdk: bytes) -> str:
    """The SDK as an inline ``<script>`` element: each frame gets it with its page, so no
    frame waits for a request of its own (a sandboxed frame caches nothing). ``<!--``,
    ``<script`` and ``</script`` are escaped (``<\\!--``: the same text to JavaScript)
    so that the HTML parser ends the element at its own end tag only."""
    text = _PARSER_TRAPS.sub(lambda match: "<\\" + match.group(1), sdk.decode("utf-8"))
    return f"<script>{text}</script>"


_PARSER_TRAPS = re.compile(r"<(!--|/?script)", re.I)


def inject_sdk(html: bytes, script: str) -> bytes:
    """``html`` with the SDK's ``script`` element (:func:`sdk_script`) as its first script.

    The element goes right after the doctype (or at the very start): the parser then
    puts it first in ``<head>`` whatever the widget wrote, so it runs before any of
    the widget's own scripts, and a later ``<html lang=..>`` keeps its attributes.
    """
    tag = script.encode()
    match = _DOCTYPE_RE.match(html)
    if match:
        return html[: match.end()] + tag + html[match.end() :]
    if html.startswith(b"\xef\xbb\xbf"):
        return html[:3] + tag + html[3:]
    return tag + html


_LIBRARY_TAG_RE = re.compile(
    r"""<script\s+src\s*=\s*["']/frames/lib/(?P<js>[A-Za-z0-9][A-Za-z0-9._-]*\.js)["']\s*>"""
    r"""\s*</script\s*>"""
    r"""|<link\s+rel\s*=\s*["']stylesheet["']\s+href\s*=\s*["']/frames/lib/"""
    r"""(?P<css>[A-Za-z0-9][A-Za-z0-9._-]*\.css)["']\s*/?>""",
    re.I,
)
LIBRARY_MARK = "<!--visualbox-library:{}-->"
"""Where a stylesheet's ``<link>`` was in a boot page's ``PAGE`` (the SDK puts the
stylesheet there)."""


def page_libraries(html: bytes) -> list[str]:
    """The libraries a page loads as ``<script src="/frames/lib/NAME.js"></script>`` or
    ``<link rel="stylesheet" href="/frames/lib/NAME.css">``, in order, each once."""
    names: list[str] = []
    for match in _LIBRARY_TAG_RE.finditer(html.decode("utf-8", "replace")):
        name = match.group("js") or match.group("css")
        if name not in names:
            names.append(name)
    return names


def boot_page(html: bytes, script: str, libraries: dict[str, str]) -> bytes | None:
    """A page that gets ``libraries`` (``{name: version}``) from the widget's host
    instead of the network, then writes ``html`` as the frame's document (without
    their script tags; a stylesheet's tag becomes :data:`LIBRARY_MARK`); ``None`` if
    ``html`` is not UTF-8 or names none of them.

    Sandboxed frames have an opaque origin, so Chromium caches nothing they load: each
    frame would download each library again, on every reload. The host page fetches
    each library once from the app's origin, where the browser caches it, and hands it
    over through the frame's private port (docs/widgets.md, "Libraries once per
    browser"); the SDK evaluates it (``'unsafe-eval'``, which every frame has)."""
    if not libraries:
        return None
    try:
        text = html.decode("utf-8")
    except UnicodeDecodeError:
        return None

    def replace(match: re.Match[str]) -> str:
        name = match.group("js") or match.group("css")
        if name not in libraries:
            return match.group(0)
        return "" if match.group("js") else LIBRARY_MARK.format(name)

    page = json.dumps(_LIBRARY_TAG_RE.sub(replace, text)).replace("<", "\\u003c")
    wanted = json.dumps([[name, version] for name, version in libraries.items()])
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"{script}"
        f"<script>visualbox._boot({wanted},{page})</script></head></html>"
    ).encode()


# -- who gets a ticket ------------------------------------------------------------------


def _ticket_url(
    box: SecretBox, origin: str, module_id: str, version: str | None, tree_hash: str
) -> str:
    return f"{origin}/frames/{issue_ticket(box, module_id, version, tree_hash)}/"


def _not_a_widget(module: Module | ResolvedModule) -> InvalidInput:
    return InvalidInput(
        "Only widgets have frames.",
        [FieldError("module_id", f'"{module.name}" is an {module.kind} module, not a widget')],
    )


def working_copy_frame(db: Session, box: SecretBox, module: Module, origin: str) -> str:
    """The frame URL of the owner's working copy as it is now (the studio preview), on
    the frames ``origin``.

    The caller has checked ownership. Works while ``config.json`` is broken."""
    if module.kind != "widget":
        raise _not_a_widget(module)
    return _ticket_url(box, origin, module.id, None, listing_hash(working_listing(db, module.id)))


def registry_frame(db: Session, box: SecretBox, module_id: str, version: str, origin: str) -> str:
    """The frame URL of a published version (``latest`` or exact) of a listed widget, on
    the frames ``origin``."""
    module = registry.listed_module(db, module_id)
    if module.kind != "widget":
        raise _not_a_widget(module)
    row = registry.get_version(db, module, version)
    registry.check_served(db, row)
    return _ticket_url(box, origin, module.id, row.version, row.content_hash)


def dashboard_frames(
    db: Session, box: SecretBox, dashboard: Dashboard, origin: str, *, embedded: bool = False
) -> dict[str, str | None]:
    """``{widget id: frame URL}`` (on the frames ``origin``) for every widget of
    ``dashboard``, resolved as its owner (so a working copy shows); ``None`` for a widget
    whose module or version is gone.

    For the owner's own views and for visitors of the public link; ``embedded``: frames
    that the dashboard's embed origins may frame too (docs/dashboards.md#embedding)."""
    owner = db.get(User, dashboard.owner_id)
    ancestors = tuple(dashboard.embed_origins or ()) if embedded else ()
    resolved: dict[tuple[str, str], str | None] = {}
    frames: dict[str, str | None] = {}
    for widget in dashboard.document["widgets"]:
        key = (widget["module_id"], widget["version"])
        if key not in resolved:
            resolved[key] = _widget_frame(db, box, origin, owner, *key, ancestors=ancestors)
        frames[widget["id"]] = resolved[key]
    return frames


def _widget_frame(
    db: Session,
    box: SecretBox,
    origin: str,
    owner: User | None,
    module_id: str,
    spec: str,
    *,
    ancestors: tuple[str, ...] = (),
) -> str | None:
    try:
        if spec == registry.WORKING:  # not resolve(): a broken config.json must not matter
            module = db.get(Module, module_id)
            if module is None or not policy.may_use_working_copy(db, owner, module):
                return None
            return working_copy_frame(db, box, module, origin)
        found = registry.resolve(db, module_id, spec, user=owner)
        if found.kind != "widget":
            return None
        return frame_url(box, found, origin, ancestors=ancestors)
    except VisualBoxError:
        return None
