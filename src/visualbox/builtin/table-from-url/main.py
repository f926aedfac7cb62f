"""Built-in Table from URL: fetches CSV or JSON and outputs {"columns", "rows", "fetched_at"}.

Progress goes to stdout (T_INFO), problems to stderr (T_ERROR). A failed fetch is
retried after a wait that doubles (up to BACKOFF_CAP_S) and resets on success. With
`interval` 0 the first successful fetch is the last: the program ends with code 0
("finished", never restarted). A setting that cannot work is one stderr line
naming the field, then exit status 78 (EX_CONFIG: not restarted either).
The secret header's value is never printed: every message is scrubbed of it.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import math
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import IO, Any

import visualbox

BACKOFF_CAP_S = 300.0
EX_CONFIG = 78
"""Exit status for "the config cannot work" (sysexits.h): the run is not restarted."""
MAX_BYTES = 16 * 1024 * 1024
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110)
NUMBER = re.compile(r"[+-]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?|[+-]?\.[0-9]+")
SECRETS: list[str] = []


class ConfigError(Exception):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")


class FetchError(Exception):
    pass


def say(text: str, stream: IO[str] = sys.stdout) -> None:
    """One status line (stdout: T_INFO, stderr: T_ERROR), scrubbed of the secret."""
    for secret in SECRETS:
        text = text.replace(secret, "***")
    print(text, file=stream, flush=True)


@dataclass
class Settings:
    url: str
    format: str
    delimiter: str
    header: bool
    interval: float
    max_rows: int
    timeout: float
    secret: tuple[str, str] | None
    verify_tls: bool


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
    delimiter = str(model.get("delimiter") or "")
    delimiter = "\t" if delimiter.lower() in ("tab", "\\t") else delimiter
    if len(delimiter) > 1 or delimiter in ('"', "\r", "\n"):
        raise ConfigError("delimiter", f"{delimiter!r} must be one character, 'tab' or empty")
    if secret_value and not secret_name:
        raise ConfigError("secretHeaderName", "is needed when a secret header value is set")
    if secret_name and not secret_value:
        raise ConfigError("secretHeaderValue", "is empty while a secret header name is set")
    if secret_name and not TOKEN.match(secret_name):
        raise ConfigError("secretHeaderName", f"{secret_name!r} is not a valid header name")
    if any(c in secret_value for c in "\r\n\0"):
        raise ConfigError("secretHeaderValue", "must be one line")
    return Settings(
        url=url,
        format=str(model.get("format") or "auto"),
        delimiter=delimiter,
        header=model.get("header") is not False,
        interval=float(model.get("interval") or 0),
        max_rows=int(model.get("maxRows") or 1000),
        timeout=float(model.get("timeout") or 10),
        secret=(secret_name, secret_value) if secret_name else None,
        verify_tls=model.get("verifyTls") is not False,
    )


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
    opener.addheaders = [("User-Agent", "VisualBox-table-from-url/1.0")]  # unless a header sets one
    return opener


def fetch(settings: Settings, opener: urllib.request.OpenerDirector) -> tuple[bytes, str, str]:
    """The body, its media type and its charset ("" when not given)."""
    request = urllib.request.Request(settings.url)
    if settings.secret:
        request.add_unredirected_header(*settings.secret)  # not copied to other hosts
    try:
        with opener.open(request, timeout=settings.timeout) as response:
            data: bytes = response.read(MAX_BYTES + 1)
            media = response.headers.get_content_type()
            charset = response.headers.get_content_charset() or ""
    except urllib.error.HTTPError as exc:
        exc.close()
        raise FetchError(f"HTTP {exc.code} {str(exc.reason)[:80]}".rstrip()) from None
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)  # a timeout while reading comes bare
        if isinstance(reason, TimeoutError):
            raise FetchError(f"no answer within {settings.timeout:g} s") from None
        raise FetchError(f"cannot connect: {reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"connection failed: {type(exc).__name__}: {exc}") from None
    if len(data) > MAX_BYTES:
        raise FetchError(f"response larger than {MAX_BYTES // 1024 // 1024} MiB")
    return data, media, charset


def typed(cell: str) -> Any:
    """A CSV cell as a number when it reads as one ("007" stays text: it may be a code)."""
    if re.fullmatch(r"[+-]?(0|[1-9][0-9]*)", cell):
        return int(cell)
    if NUMBER.fullmatch(cell) and math.isfinite(number := float(cell)):
        return number
    return cell


def square(columns: list[Any], rows: list[list[Any]]) -> dict[str, Any]:
    """Every row as wide as the widest; unnamed columns are called "column N"."""
    width = max([len(columns), *(len(row) for row in rows)])
    names = ["" if c is None else str(c) for c in columns] + [""] * (width - len(columns))
    return {
        "columns": [name or f"column {i + 1}" for i, name in enumerate(names)],
        "rows": [row + [None] * (width - len(row)) for row in rows],
    }


def from_csv(text: str, settings: Settings) -> dict[str, Any]:
    delimiter = settings.delimiter
    if not delimiter:  # judged on whole, non-blank lines of the first 64 KiB
        lines = text[:65536].splitlines()[: -1 if len(text) > 65536 else None]
        sample = "\n".join(line for line in lines if line.strip())
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = (row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row)
    columns = next(reader, []) if settings.header else []
    rows: list[list[Any]] = []
    for row in reader:
        if len(rows) == settings.max_rows:
            break
        rows.append([typed(cell) for cell in row])
    return square(columns, rows)


def from_json(value: Any, settings: Settings) -> dict[str, Any]:
    if isinstance(value, dict) and isinstance(value.get("columns"), list):
        rows = value.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise FetchError('JSON: "rows" must be an array of arrays next to "columns"')
        return square(value["columns"], rows[: settings.max_rows])
    if not isinstance(value, list):
        raise FetchError("JSON: expected an array of objects, of arrays or {columns, rows}")
    if all(isinstance(item, dict) for item in value):
        items = value[: settings.max_rows]
        columns = list(dict.fromkeys(key for item in items for key in item))
        rows = [[item.get(c) for c in columns] for item in items]
        return {"columns": columns, "rows": rows}
    if all(isinstance(item, list) for item in value):
        columns = value[0] if settings.header and value else []
        body = value[1:] if settings.header else value
        return square(columns, body[: settings.max_rows])
    if not any(isinstance(item, dict | list) for item in value):
        return {"columns": ["value"], "rows": [[item] for item in value[: settings.max_rows]]}
    raise FetchError("JSON: an array must hold only objects, only arrays or only plain values")


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def table(data: bytes, media: str, charset: str, settings: Settings) -> dict[str, Any]:
    kind = settings.format
    if kind == "auto":  # the media type decides, else the first character
        start = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        csv_type = "csv" in media or "tab-separated" in media
        kind = "json" if not csv_type and ("json" in media or start in (b"[", b"{")) else "csv"
    if kind == "json":
        try:
            value = json.loads(data, parse_constant=reject_constant)
        except (ValueError, RecursionError) as exc:
            raise FetchError(f"the response is not JSON: {str(exc)[:120]}") from None
        return from_json(value, settings)
    try:
        text = data.decode(charset or "utf-8-sig", errors="replace")
    except LookupError:
        text = data.decode("utf-8-sig", errors="replace")
    return from_csv(text, settings)


def main() -> None:
    try:
        settings = read_settings(visualbox.MODEL)
    except ConfigError as exc:
        say(f"config: {exc}", sys.stderr)
        sys.exit(EX_CONFIG)
    opener = build_opener(settings)
    every = f"every {settings.interval:g} s" if settings.interval else "once"
    parts = urllib.parse.urlsplit(settings.url)  # no query: it may hold a key
    say(f"fetching {parts.scheme}://{parts.netloc}{parts.path} {every}")
    failures, shape = 0, ""
    while True:
        try:
            data, media, charset = fetch(settings, opener)
            result = table(data, media, charset, settings)
        except Exception as exc:  # noqa: BLE001 - any failure is a status, never a crash
            failures += 1
            base = settings.interval or 0.5
            wait = min(base * 2**failures, max(base, BACKOFF_CAP_S))
            reason = str(exc) if isinstance(exc, FetchError) else f"{type(exc).__name__}: {exc}"
            say(f"{reason}; next try in {wait:g} s", sys.stderr)
            time.sleep(wait)
            continue
        if failures:
            say(f"recovered after {failures} failed fetch(es)")
        failures = 0
        result["fetched_at"] = int(time.time())
        visualbox.output(result)
        size = f"{len(result['rows'])} rows × {len(result['columns'])} columns"
        if len(result["rows"]) == settings.max_rows:
            size += " (maxRows reached)"
        if size != shape:
            shape = size
            say(f"table: {size}")
        if not settings.interval:
            say("fetched once (interval 0): finished")
            return
        time.sleep(settings.interval)


main()
