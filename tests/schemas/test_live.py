"""The declared live protocol (schemas/live.py): what the server encodes is what it declares."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from visualbox.runtime.messages import RunState
from visualbox.runtime.sandbox.base import ExitReason
from visualbox.schemas.live import (
    EndReason,
    HubMessage,
    InstanceState,
    LiveDashboard,
    LiveDropped,
    LiveError,
    LiveFieldError,
    LiveInit,
    LiveInstance,
    LiveJoined,
    LiveOutput,
    LiveRemoved,
    LiveState,
    LiveStatus,
    LiveTickReply,
    NodeMessage,
    RoomRole,
    ServerMessage,
    StatusLevel,
    server_message,
)

ROOM = "dashboard:abc"
STATUS = LiveStatus(room=ROOM, instance="i1", status=StatusLevel.ERROR, data="a ✓ line")
EXAMPLES = [
    LiveJoined(
        room=ROOM,
        role=RoomRole.OWNER,
        revision=3,
        instances={
            "i1": LiveInstance(label="Weather", state=InstanceState.RUNNING, data={"t": 1}, at="x"),
            "i2": LiveInstance(label="Gone", state=InstanceState.EXITED, reason=EndReason.QUOTA),
        },
        logs=[STATUS],
    ),
    LiveInit(room=ROOM, instance="i1"),
    LiveOutput(room=ROOM, instance="i1", at="2026-12-02T10:00:00.000Z", data=[1, "two", None]),
    STATUS,
    LiveState(room=ROOM, instance="i1", state=InstanceState.EXITED, code=-9, reason=EndReason.OOM),
    LiveDashboard(room=ROOM, revision=4),
    LiveRemoved(room=ROOM, instance="i1"),
    LiveDropped(room=ROOM, count=12),
    LiveTickReply(),
    LiveError(
        code="invalid",
        message="The message is not valid.",
        fields=[LiveFieldError(field="room", reason="bad")],
        request="JOIN",
    ),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_every_message_encodes_to_what_it_declares(message: Any) -> None:
    text = message.encode()
    assert server_message.validate_json(text) == message
    assert json.loads(text)["type"] == message.type


def test_a_relayed_output_splices_the_integrations_text_as_the_model_would_encode_it() -> None:
    text = '{"a":[1,2.5,"x\\u00e9"],"b":null}'
    relayed = LiveOutput.relay(ROOM, "i1", "now", json.loads(text), text)
    assert relayed.encode() == relayed.model_dump_json().replace(
        json.dumps(relayed.data, separators=(",", ":"), ensure_ascii=False), text
    )
    assert json.loads(relayed.encode()) == {
        "type": "OUTPUT",
        "room": ROOM,
        "instance": "i1",
        "at": "now",
        "data": json.loads(text),
    }


@pytest.mark.parametrize("value", ["42", "true", "null", '"quoted"', "plain ✓ text", ""])
def test_a_text_output_stays_text(value: str) -> None:
    relayed = LiveOutput.relay(ROOM, "i1", "now", value, None)
    assert json.loads(relayed.encode())["data"] == value


def test_outputs_and_states_of_one_instance_coalesce_apart_from_others() -> None:
    def output(instance: str) -> LiveOutput:
        return LiveOutput(room=ROOM, instance=instance, at="t", data=1)

    state = LiveState(room=ROOM, instance="i1", state=InstanceState.RUNNING)
    assert output("i1").key == output("i1").key
    assert len({output("i1").key, output("i2").key, state.key}) == 3
    assert STATUS.key is None and LiveInit(room=ROOM, instance="i1").key is None


def test_the_protocol_enums_cover_every_state_and_end_of_a_run() -> None:
    assert {str(s) for s in RunState} <= {str(s) for s in InstanceState}
    assert {str(r) for r in ExitReason} <= {str(r) for r in EndReason}


def test_the_hub_carries_every_server_message_and_the_node_messages() -> None:
    """HubMessage lists the server messages again (a discriminated union must be spelt
    out): one left out there would be refused by the Redis hub's decoder."""
    server = set(get_args(get_args(ServerMessage)[0]))
    nodes = set(get_args(get_args(NodeMessage)[0]))
    assert set(get_args(get_args(HubMessage)[0])) == server | nodes
    assert server.isdisjoint(nodes)
