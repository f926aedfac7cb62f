"""Built-in HTTP JSON poller: requests a URL every `interval` seconds and outputs its JSON.

Progress goes to stdout (T_INFO), problems to stderr (T_ERROR). A failed poll is
retried after a wait that doubles (up to BACKOFF_CAP_S) and resets on success; the
process never exits on its own, except for a setting that cannot work: one stderr
line naming the field, then exit status 78 (EX_CONFIG: not restarted).
The secret header's value is never printed: every message is scrubbed of it.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import IO, Any

import visualbox

BACKOFF_CAP_S = 300.0
EX_CONFIG = 78
"""Exit status for "the config cannot work" (sysexits.h): the run is not restarted."""
MAX_BYTES = 16 * 1024 * 1024
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110)
SECRETS: list[str] = []
KINDS: dict[type, str] = {dict: "an object", list: "an array"}


class ConfigError(Exception):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")


class PollError(Exception):
    pass


def say(text: str, stream: IO[str] = sys.stdout) -> None:
    """One status line (stdout: T_INFO, stderr: T_ERROR), scrubbed of the secret."""
    for secret in SECRETS:
        text = text.replace(secret, "***")
    print(text, file=stream, flush=True)


@dataclass
class Settings:
    url: str
    method: str
    body: bytes | None
    headers: list[tuple[str, str]]
    secret: tuple[str, str] | None
    pointer: list[str]
    pointer_text: str
    interval: float
    timeout: float
    verify_tls: bool
    notes: list[str] = field(default_factory=list)


def parse_headers(text: str) -> list[tuple[str, str]]:
    headers = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.match(name.strip()):
            shown = line if len(line) <= 40 else line[:40] + "…"
            raise ConfigError("headers", f"line {number} {shown!r} is not 'Name: value'")
        headers.append((name.strip(), value.strip()))
    return headers


def parse_pointer(text: str) -> list[str]:
    """The reference tokens of JSON Pointer `text` (RFC 6901); "" is the whole document."""
    if text == "":
        return []
    if not text.startswith("/"):
        raise ConfigError("pointer", f"{text!r} must be empty or start with '/' (e.g. /data/0)")
    if re.search(r"~[^01]|~$", text):
        raise ConfigError("pointer", f"{text!r}: '~' must be followed by 0 or 1 (~0 is ~, ~1 is /)")
    return [t.replace("~1", "/").replace("~0", "~") for t in text[1:].split("/")]


def read_settings(model: dict[str, Any]) -> Settings:
    secret_name = str(model.get("secretHeaderName") or "").strip()
    secret_value = str(model.get("secretHeaderValue") or "")
    if secret_value:
        SECRETS.append(secret_value)  # first, so no later message can show it
    url = str(model.get("url") or "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("url", "must be an http:// or https:// address")
    if "@" in parts.netloc:
        raise ConfigError("url", "must not contain credentials; use the secret header")
    method = str(model.get("method") or "GET").upper()
    headers = parse_headers(str(model.get("headers") or ""))
    if secret_value and not secret_name:
        raise ConfigError("secretHeaderName", "is needed when a secret header value is set")
    if secret_name and not secret_value:
        raise ConfigError("secretHeaderValue", "is empty while a secret header name is set")
    if secret_name and not TOKEN.match(secret_name):
        raise ConfigError("secretHeaderName", f"{secret_name!r} is not a valid header name")
    if any(c in secret_value for c in "\r\n\0"):
        raise ConfigError("secretHeaderValue", "must be one line")
    pointer_text = str(model.get("pointer") or "")
    settings = Settings(
        url=url,
        method=method,
        body=None,
        headers=headers,
        secret=(secret_name, secret_value) if secret_name else None,
        pointer=parse_pointer(pointer_text),
        pointer_text=pointer_text,
        interval=float(model.get("interval") or 60),
        timeout=float(model.get("timeout") or 10),
        verify_tls=model.get("verifyTls") is not False,
    )
    body = str(model.get("body") or "")
    if body and method == "GET":
        settings.notes.append("the request body is not sent with GET")
    elif body:
        settings.body = body.encode("utf-8")
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
    if not settings.verify_tls:
        settings.notes.append("TLS certificates are NOT verified")
    return settings


class SecretRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects; the secret header goes along only to the same origin."""

    def __init__(self, secret: tuple[str, str] | None) -> None:
        self.secret = secret

    def redirect_request(
        self, req: urllib.request.Request, *args: Any, **kwargs: Any
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, *args, **kwargs)
        if new is not None and self.secret and (new.type, new.host) == (req.type, req.host):
            new.add_unredirected_header(*self.secret)
        return new


def build_opener(settings: Settings) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context()
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), SecretRedirect(settings.secret)
    )
    opener.addheaders = [("User-Agent", "VisualBox-http-json/1.0")]  # unless a header sets one
    return opener


def fetch(settings: Settings, opener: urllib.request.OpenerDirector) -> bytes:
    request = urllib.request.Request(settings.url, data=settings.body, method=settings.method)
    for name, value in settings.headers:
        request.add_header(name, value)
    if settings.secret:
        request.add_unredirected_header(*settings.secret)  # not copied to other hosts
    try:
        with opener.open(request, timeout=settings.timeout) as response:
            data: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise PollError(f"HTTP {exc.code} {str(exc.reason)[:80]}".rstrip()) from None
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)  # a timeout while reading comes bare
        if isinstance(reason, TimeoutError):
            raise PollError(f"no answer within {settings.timeout:g} s") from None
        raise PollError(f"cannot connect: {reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise PollError(f"connection failed: {type(exc).__name__}: {exc}") from None
    if len(data) > MAX_BYTES:
        raise PollError(f"response larger than {MAX_BYTES // 1024 // 1024} MiB")
    return data


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def select(document: Any, settings: Settings) -> Any:
    value = document
    for token in settings.pointer:
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and re.fullmatch(r"0|[1-9][0-9]*", token):
            if int(token) >= len(value):
                raise PollError(
                    f"pointer {settings.pointer_text}: only {len(value)} items at {token}"
                )
            value = value[int(token)]
        else:
            kind = KINDS.get(type(value), "a plain value")
            raise PollError(f"pointer {settings.pointer_text}: {kind} has no {token!r}")
    return value


def poll(settings: Settings, opener: urllib.request.OpenerDirector) -> Any:
    data = fetch(settings, opener)
    try:
        document = json.loads(data, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:
        raise PollError(f"the response is not JSON: {str(exc)[:120]}") from None
    return select(document, settings)


def public_url(url: str) -> str:
    """`url` without its query, which may hold an API key."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def main() -> None:
    try:
        settings = read_settings(visualbox.MODEL)
    except ConfigError as exc:
        say(f"config: {exc}", sys.stderr)
        sys.exit(EX_CONFIG)
    opener = build_opener(settings)
    say(f"polling {settings.method} {public_url(settings.url)} every {settings.interval:g} s")
    for note in settings.notes:
        say(f"note: {note}")
    failures = 0
    while True:
        try:
            value = poll(settings, opener)
        except Exception as exc:  # noqa: BLE001 - any failure is a status, never a crash
            failures += 1
            wait = min(settings.interval * 2**failures, max(settings.interval, BACKOFF_CAP_S))
            reason = str(exc) if isinstance(exc, PollError) else f"{type(exc).__name__}: {exc}"
            say(f"{reason}; next try in {wait:g} s", sys.stderr)
        else:
            if failures:
                say(f"recovered after {failures} failed poll(s)")
            failures = 0
            wait = settings.interval
            visualbox.output(value)  # a string stays a string ("42" is no number)
        time.sleep(wait)


main()
