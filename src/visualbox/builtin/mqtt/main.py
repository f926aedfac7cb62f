"""Built-in MQTT subscriber: each topic's latest value and history, as a tree by topic level.

paho-mqtt's network loop runs in the main thread (it reconnects with back-off
for ever); a second thread sends the data model, at most ``MAX_RATE`` times a
second, coalescing the messages that arrive in between. A config that cannot
work is one stderr line naming the field(s), then exit status 78 (EX_CONFIG: not
restarted). See README.md.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import visualbox

RECORD = "#"
"""The key of a topic's own record in the tree: no MQTT topic level can be '#'."""
MAX_RATE = 10
"""Outputs per second at most (the sandbox allows 200)."""
BYTES_PER_SECOND = 1_000_000
"""A large model is sent less often: at most about this many bytes a second."""
MAX_OUTPUT_BYTES = 900_000
"""Above this the histories are shortened (the sandbox refuses outputs over 1 MiB)."""
MAX_TOPICS = 1000
MAX_PAYLOAD_BYTES = 64 * 1024
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60
EX_CONFIG = 78
"""Exit status for "the config cannot work" (sysexits.h): the run is not restarted."""


def log(text: str) -> None:
    print(text, flush=True)


def error(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def now_ms() -> int:
    return int(time.time() * 1000)


# --- configuration -------------------------------------------------------------------


def filter_problem(topic_filter: str) -> str | None:
    """Why ``topic_filter`` is not a valid MQTT topic filter, or None."""
    if len(topic_filter.encode("utf-8")) > 65535:
        return "it is longer than 65,535 bytes"
    if "\0" in topic_filter:
        return "it contains a NUL character"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' must be a whole level and the last one (like sensors/#)"
        if "+" in level and level != "+":
            return "'+' must be a whole level (like home/+/temp)"
    return None


def read_filters(text: str) -> tuple[list[str], list[str]]:
    """The topic filters of ``text`` (one per line, blank lines skipped) and the problems."""
    filters: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        topic_filter = line.strip()
        if not topic_filter or topic_filter in filters:
            continue
        problem = filter_problem(topic_filter)
        if problem:
            problems.append(f"topics: line {number}: topic filter {topic_filter!r}: {problem}")
        else:
            filters.append(topic_filter)
    if not filters and not problems:
        problems.append("topics: give at least one topic filter (like sensors/#)")
    return filters, problems


def tls_context(verify: bool, ca_pem: str) -> ssl.SSLContext:
    """Raises ``ssl.SSLError`` (or ``TypeError``, when not ASCII) for an unusable ``ca_pem``."""
    if ca_pem.strip():
        context = ssl.create_default_context(cadata=ca_pem.strip())
    else:
        context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# --- payloads and the data model -------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(payload: bytes) -> Any:
    """JSON when the payload parses as JSON, else its UTF-8 text, else a marker."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return f"<payload of {len(payload)} bytes: too large>"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return f"<binary payload of {len(payload)} bytes>"
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return text


class Topics:
    """What has arrived, per topic; thread-safe. ``changed`` wakes the sender."""

    def __init__(self, history: int) -> None:
        self.changed = threading.Condition()
        self.history = history
        self.latest: dict[str, tuple[int, Any]] = {}
        self.histories: dict[str, deque[list[Any]]] = {}
        self.connected = False
        self.updated_at: int | None = None
        self.dirty = True
        self._full_warned = False

    def add(self, topic: str, value: Any) -> None:
        t = now_ms()
        with self.changed:
            if topic not in self.latest and len(self.latest) >= MAX_TOPICS:
                if not self._full_warned:
                    self._full_warned = True
                    error(
                        f"more than {MAX_TOPICS} topics: new topics such as {topic!r} are ignored"
                    )
                return
            self.latest[topic] = (t, value)
            if self.history:
                self.histories.setdefault(topic, deque(maxlen=self.history)).append([t, value])
            self.updated_at = t
            self.dirty = True
            self.changed.notify()

    def set_connected(self, connected: bool) -> None:
        with self.changed:
            self.connected = connected
            self.dirty = True
            self.changed.notify()

    def shorten_histories(self) -> bool:
        """Halve the history length (after an output came out too large); False at 0."""
        with self.changed:
            if self.history == 0:
                return False
            self.history //= 2
            self.histories = {
                topic: deque(list(values)[len(values) - self.history :], maxlen=self.history)
                for topic, values in self.histories.items()
                if self.history
            }
            return True

    def model(self) -> dict[str, Any]:
        """The data model; call with ``changed`` held."""
        tree: dict[str, Any] = {}
        for topic in sorted(self.latest):
            node = tree
            for level in topic.split("/"):
                node = node.setdefault(level, {})
            t, value = self.latest[topic]
            history = self.histories.get(topic, ())
            node[RECORD] = {"value": value, "t": t, "history": list(history)}
        return {"topics": tree, "connected": self.connected, "updated_at": self.updated_at}


def send_forever(topics: Topics) -> None:
    """Output the model whenever it changed, at most ``MAX_RATE`` times a second.

    Should this thread fail, the whole process exits (and is restarted) rather
    than stay connected without sending anything.
    """
    try:
        _send_forever(topics)
    except BaseException:
        traceback.print_exc()
        os._exit(1)


def _send_forever(topics: Topics) -> None:
    while True:
        with topics.changed:
            topics.changed.wait_for(lambda: topics.dirty)
            topics.dirty = False
            model = topics.model()
        text = json.dumps(model, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
        if size > MAX_OUTPUT_BYTES:
            if topics.shorten_histories():
                error(
                    f"the data model reached {size} bytes: keeping only the last "
                    f"{topics.history} values per topic"
                )
            else:
                error(f"the data model is {size} bytes even without history: not sent")
            with topics.changed:
                topics.dirty = True
            time.sleep(1 / MAX_RATE)
            continue
        visualbox.output(text)
        time.sleep(max(1 / MAX_RATE, size / BYTES_PER_SECOND))


# --- the MQTT client -------------------------------------------------------------------


def main() -> int:
    config = visualbox.MODEL
    host = str(config.get("host") or "").strip()
    port = int(config.get("port") or 1883)
    use_tls = bool(config.get("tls"))
    username = str(config.get("username") or "")
    password = str(config.get("password") or "")
    client_id = str(config.get("clientId") or "").strip() or f"visualbox-{secrets.token_hex(6)}"
    qos = int(config.get("qos") or 0)
    history = int(config.get("history") if config.get("history") is not None else 100)
    keep_alive = int(config.get("keepAlive") or 60)

    filters, problems = read_filters(str(config.get("topics") or ""))
    if not host:
        problems.append("host: give the broker's host name or address")
    if password and not username:
        problems.append("password: MQTT sends a password only with a user name")
    context = None
    if use_tls:
        try:
            context = tls_context(
                config.get("verifyCert") is not False, str(config.get("caCert") or "")
            )
        except (ssl.SSLError, TypeError, ValueError) as exc:  # TypeError: not ASCII
            detail = getattr(exc, "reason", None) or (exc.args[-1] if exc.args else exc)
            problems.append(f"caCert: not a usable PEM certificate ({detail})")
    if problems:
        error("config: " + "; ".join(problems))
        return EX_CONFIG

    where = f"{host}:{port}" + (" (TLS)" if use_tls else "")
    topics = Topics(history)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    if username:
        client.username_pw_set(username, password or None)
    if context is not None:
        client.tls_set_context(context)
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    retrying = f"retrying with back-off ({RECONNECT_MIN_S} s, doubling up to {RECONNECT_MAX_S} s)"

    def on_connect(
        client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        if reason.is_failure:
            error(f"the broker at {where} refused the connection: {reason}; {retrying}")
            return
        log(f"connected to {where} as {client_id}")
        topics.set_connected(True)
        client.subscribe([(topic_filter, qos) for topic_filter in filters])

    def on_subscribe(
        _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[Any], _properties: Any
    ) -> None:
        granted = []
        for topic_filter, reason in zip(filters, reasons, strict=False):
            if reason.is_failure:
                error(f"the broker refused the topic filter {topic_filter!r}: {reason}")
            else:
                granted.append(topic_filter)
        if granted:
            log(f"subscribed to {', '.join(granted)} (QoS {qos})")

    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if "#" in topic or "+" in topic:  # not a topic name; a broker never sends one
            return
        topics.add(topic, decode(message.payload))

    def on_disconnect(
        _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        if topics.connected:
            error(f"lost the connection to {where}: {reason}; {retrying}")
            topics.set_connected(False)

    def on_connect_fail(_client: mqtt.Client, _userdata: Any) -> None:
        exc = sys.exc_info()[1]  # paho calls this while handling the OSError
        error(f"cannot connect to {where}: {exc or 'connection failed'}; {retrying}")

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.on_connect_fail = on_connect_fail

    log(f"connecting to {where}, topics: {', '.join(filters)}")
    threading.Thread(target=send_forever, args=(topics,), daemon=True).start()
    client.connect_async(host, port, keepalive=keep_alive)
    client.loop_forever(retry_first_connection=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
