"""The live WebSocket endpoint ``/api/live`` (protocol: docs/live.md).

Parses and authorises each client message, then calls ``services/live.py``.
Outgoing messages wait in the connection's :class:`~visualbox.hub.outbox.Outbox`
and are sent by one task per connection, so a slow client only ever slows itself.
Under ``visualbox serve`` that task writes frames built once for all the viewers
that take the same messages (``api/live_transport.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from visualbox.api.deps import check_same_origin, user_from_credentials
from visualbox.api.live_transport import Frames, payload, writer
from visualbox.db.engine import Database
from visualbox.db.tables.accounts import User
from visualbox.errors import Forbidden, RateLimited, VisualBoxError, reason_of
from visualbox.hub import Envelope
from visualbox.hub.outbox import Outbox
from visualbox.runtime.channel import TokenBucket
from visualbox.schemas.live import (
    LiveDevRestart,
    LiveDevStart,
    LiveDevStop,
    LiveDropped,
    LiveError,
    LiveJoin,
    LiveLeave,
    LiveRestart,
    LiveTerminate,
    LiveTick,
    LiveTickReply,
    client_message,
)
from visualbox.services.live import Live
from visualbox.services.live_rooms import Viewer, error_message

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

RECHECK_S = 30.0
"""Longest time between two checks of a signed-in connection's credentials."""
NO_TICK = 4000
"""Close code: the client sent nothing for ``live.idle_timeout_s``."""
BATCH = 256
"""Most messages in one frame."""
BATCH_CHARS = 256 * 1024
"""Most characters in one batched frame: each send waits until the previous frame
left the process, so a slow viewer holds at most this much (or one large message)
outside its outbox."""
COMMANDS_PER_S = 20
COMMAND_BURST = 100
_TICK = Envelope(LiveTickReply())
_FRAMES = Frames()
"""The last frame built, shared by the next viewer that sends the same messages."""


@router.websocket("/live")
async def live_socket(websocket: WebSocket) -> None:
    live: Live = websocket.app.state.live
    database: Database = websocket.app.state.db
    try:
        check_same_origin(websocket)  # another site's page must not use our cookie
    except Forbidden:
        await websocket.close(code=1008, reason="cross-site WebSocket refused")
        return
    try:
        user = await asyncio.to_thread(_authenticate, websocket, database)
    except VisualBoxError as exc:
        await websocket.close(code=1008, reason=str(exc)[:120])
        return
    await websocket.accept()
    outbox = Outbox(live.settings.viewer_queue)
    expired = asyncio.Event()

    def expire() -> None:
        expired.set()
        outbox.close()

    viewer = Viewer(user, outbox, expire)
    sender = asyncio.create_task(_send_forever(websocket, outbox, expired))
    try:
        await _receive_forever(websocket, live, viewer)
    except WebSocketDisconnect:
        pass
    finally:
        await live.leave_all(viewer)
        outbox.close()
        with contextlib.suppress(Exception):
            await sender
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


async def _send_forever(websocket: WebSocket, outbox: Outbox, expired: asyncio.Event) -> None:
    write = writer(websocket)
    try:
        while True:
            texts, dropped = await outbox.take_texts()
            if not texts and not dropped:
                break  # closed
            if dropped:
                texts[:0] = [LiveDropped(room=r, count=n).encode() for r, n in dropped.items()]
            for batch in _batches(texts):
                if write is not None:
                    await write(_FRAMES.frame(batch))  # built once for the viewers in step
                else:
                    await websocket.send_text(payload(batch))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client went away; the receiver sees it too
    if expired.is_set():
        with contextlib.suppress(Exception):
            await websocket.close(code=NO_TICK, reason="no TICK received in time")


def _batches(texts: list[str]) -> Iterator[list[str]]:
    """The messages of each frame: one, or when several wait, up to BATCH of them in
    order, sent as a JSON array (a viewer that fell behind catches up in a few frames
    instead of thousands)."""
    if len(texts) <= BATCH and sum(map(len, texts)) <= BATCH_CHARS:
        yield texts  # nearly always: everything pending fits in one frame
        return
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and (len(batch) == BATCH or size + len(text) > BATCH_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        yield batch


async def _receive_forever(websocket: WebSocket, live: Live, viewer: Viewer) -> None:
    limit = live.settings.client_message_bytes
    bucket = TokenBucket(COMMANDS_PER_S, COMMAND_BURST)
    checked = time.monotonic()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        viewer.last_seen = time.monotonic()
        raw = message.get("text")
        if raw is None:
            raw_bytes = message.get("bytes") or b""
            raw = raw_bytes.decode("utf-8", "replace")
        if len(raw) > limit:
            await websocket.close(code=1009, reason=f"messages may be at most {limit} bytes")
            return
        if not bucket.try_take():
            viewer.send("", _error(RateLimited("Too many messages; slow down.")))
            continue
        # Who is asking is checked again before every command, and at least every
        # RECHECK_S while the connection only ticks: a signed-out session or a revoked
        # token ends the connection, not just its next one.
        now = time.monotonic()
        if viewer.user is not None and (not _is_tick(raw) or now - checked > RECHECK_S):
            checked = now
            if not await _still_signed_in(websocket, viewer):
                await websocket.close(code=1008, reason="signed out or credentials revoked")
                return
        await _handle(raw, live, viewer)


def _is_tick(raw: str) -> bool:
    return raw.replace(" ", "") == '{"type":"TICK"}'


async def _still_signed_in(websocket: WebSocket, viewer: Viewer) -> bool:
    assert viewer.user is not None
    database: Database = websocket.app.state.db
    try:
        user = await asyncio.to_thread(_authenticate, websocket, database)
    except VisualBoxError:
        return False
    return user is not None and user.id == viewer.user.id


async def _handle(raw: str, live: Live, viewer: Viewer) -> None:
    try:
        data = json.loads(raw)
    except ValueError:
        viewer.send("", error_message("invalid", "Messages must be JSON objects.", []))
        return
    try:
        command = client_message.validate_python(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "type", "reason": reason_of(e)}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        viewer.send("", error_message("invalid", "The message is not valid.", fields, data))
        return
    try:
        await _dispatch(command, live, viewer)
    except VisualBoxError as exc:
        viewer.send("", _error(exc, data))
    except Exception:
        log.exception("live command %s failed", type(command).__name__)
        viewer.send("", error_message("internal", "Something went wrong on the server.", [], data))


async def _dispatch(command: Any, live: Live, viewer: Viewer) -> None:
    if isinstance(command, LiveTick):
        viewer.outbox.put("", _TICK)
    elif isinstance(command, LiveJoin):
        if command.dashboard is not None:
            await live.join_dashboard(viewer, command.dashboard)
        else:
            assert command.share is not None
            await live.join_shared(viewer, command.share)
    elif isinstance(command, LiveLeave):
        await live.leave(viewer, command.room)
    elif isinstance(command, LiveRestart):
        await live.restart(viewer, command.room, command.instance)
    elif isinstance(command, LiveTerminate):
        await live.terminate(viewer, command.room, command.instance)
    elif isinstance(command, LiveDevStart):
        await live.dev_start(viewer, command.module, command.config)
    elif isinstance(command, LiveDevRestart):
        await live.dev_restart(viewer, command.module, command.config)
    elif isinstance(command, LiveDevStop):
        await live.dev_stop(viewer, command.module)


def _authenticate(websocket: WebSocket, database: Database) -> User | None:
    with database.session() as db:
        user = user_from_credentials(db, websocket)
        if user is not None:
            db.refresh(user)  # load every attribute: it is used after the session ends
            db.expunge(user)
        return user


def _error(exc: VisualBoxError, request: Any = None) -> LiveError:
    return error_message(exc.code, exc.message, [f.as_dict() for f in exc.fields], request)


async def notify_live(request: Request) -> AsyncIterator[None]:
    """Router dependency: after a change to a dashboard (any unsafe request naming a
    ``dashboard_id``), let the live service bring its room in line. Routes that
    create a dashboard announce it themselves (its id is not in their path)."""
    yield
    dashboard_id = request.path_params.get("dashboard_id")
    if dashboard_id and request.method not in ("GET", "HEAD", "OPTIONS"):
        live: Live = request.app.state.live
        live.dashboard_changed(dashboard_id)
