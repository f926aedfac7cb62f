"""``visualbox.json``: what a module is (name, kind, runtime, description, tags, version,
sample, and its output contract: an integration's ``output`` schema, a widget's
``accepts``; see ``output_contract.py``).

The manifest is optional. Without it the kind and runtime are inferred from the
entry file at the top of the module (:data:`ENTRY_FILES`), so modules written for
the original VisualBox work unchanged, and the description is the first
paragraph of ``README.md``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

import semver

from visualbox.errors import FieldError, InvalidInput, plural
from visualbox.modules.output_contract import accepted_shapes, output_schema
from visualbox.modules.tree import FileTree

Kind = Literal["integration", "widget"]
Runtime = Literal["python", "node", "go"]

MANIFEST_FILE = "visualbox.json"
ENTRY_FILES: dict[str, str] = {
    "python": "main.py",
    "node": "index.js",
    "go": "main.go",
    "widget": "index.html",
}
"""The entry file of each runtime, and ``widget`` → ``index.html``."""
RUNTIMES: tuple[Runtime, ...] = ("python", "node", "go")
KINDS: tuple[Kind, ...] = ("integration", "widget")
MANIFEST_KEYS = (
    "name",
    "kind",
    "runtime",
    "description",
    "tags",
    "version",
    "sample",
    "output",
    "accepts",
)
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 500
MAX_TAGS = 10
MAX_TAG_CHARS = 32
MAX_SAMPLE_BYTES = 64 * 1024
"""``sample`` (example data for previews) as compact JSON, at most this long."""
TAG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
"""A tag: 1-32 characters of a-z, 0-9 and '-', not starting with '-' (manifest and API alike)."""
_TAG_RE = re.compile(TAG_PATTERN)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Manifest:
    name: str
    kind: Kind
    runtime: Runtime | None
    description: str = ""
    tags: tuple[str, ...] = ()
    version: str | None = None
    sample: Any = None
    """Example data: what a widget's preview shows, or what an integration outputs."""
    output: dict[str, Any] | bool | None = None
    """An integration's declared output schema (read from its file when it names one)."""
    accepts: tuple[str, ...] = ()
    """The data shapes a widget draws (``output_contract.SHAPES``); empty: not declared."""

    @property
    def entry_file(self) -> str:
        """The file the module starts from: ``main.py``, ``index.js``, ``main.go`` or
        ``index.html``."""
        return ENTRY_FILES[self.runtime or "widget"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.runtime:
            out["runtime"] = self.runtime
        out["description"] = self.description
        out["tags"] = list(self.tags)
        if self.version:
            out["version"] = self.version
        if self.sample is not None:
            out["sample"] = self.sample
        if self.output is not None:
            out["output"] = self.output
        if self.accepts:
            out["accepts"] = list(self.accepts)
        return out


def load_manifest(tree: FileTree, *, default_name: str, read_files: bool = True) -> Manifest:
    """The module's manifest, from ``visualbox.json`` and/or inferred from its files.

    With ``read_files=False`` (``tree`` holds the paths of the other files, not their
    contents) a schema file that ``output`` names must only exist; ``output`` is then
    ``None``.

    Raises :class:`InvalidInput` listing every problem; fields are named
    ``visualbox.json`` or ``visualbox.json.<key>``.
    """
    problems: list[FieldError] = []
    raw = _read_manifest(tree, problems)

    def bad(key: str, reason: str) -> None:
        problems.append(FieldError(f"{MANIFEST_FILE}.{key}", reason))

    for key in raw:
        if key not in MANIFEST_KEYS:
            bad(key, f"unknown key; allowed keys are {', '.join(MANIFEST_KEYS)}")

    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        bad("name", "must be a non-empty string")
    elif len(name) > MAX_NAME_CHARS or _CONTROL_RE.search(name):
        bad("name", f"must be at most {MAX_NAME_CHARS} characters, without control characters")

    kind = raw.get("kind")
    if kind is not None and kind not in KINDS:
        bad("kind", f"must be one of {', '.join(KINDS)}")
    runtime = raw.get("runtime")
    if runtime is not None and runtime not in RUNTIMES:
        bad("runtime", f"must be one of {', '.join(RUNTIMES)}")
    if kind == "widget" and runtime is not None:
        bad("runtime", "widgets have no runtime; remove it")
    if kind in (None, "integration") and runtime in (None, *RUNTIMES):
        kind, runtime = _infer(tree, kind, runtime, problems)

    description = raw.get("description")
    if description is None:
        description = readme_description(tree.get("README.md", b""))
    elif not isinstance(description, str):
        bad("description", "must be a string")
    elif len(description) > MAX_DESCRIPTION_CHARS:
        bad("description", f"must be at most {MAX_DESCRIPTION_CHARS} characters")

    tags = raw.get("tags", [])
    if not isinstance(tags, list):
        bad("tags", "must be a list of short lowercase strings")
        tags = []
    elif len(tags) > MAX_TAGS:
        bad("tags", f"at most {MAX_TAGS} tags")
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            bad(f"tags[{i}]", "must be 1-32 characters of a-z, 0-9 and '-', not starting with '-'")
        elif tag in tags[:i]:
            bad(f"tags[{i}]", f'duplicate tag "{tag}"')

    version = raw.get("version")
    if version is not None and (
        not isinstance(version, str) or not semver.Version.is_valid(version)
    ):
        bad("version", "must be a semantic version such as 1.2.0")

    sample = raw.get("sample")
    if sample is not None:
        size = len(json.dumps(sample, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_SAMPLE_BYTES:
            bad("sample", f"must be at most {MAX_SAMPLE_BYTES // 1024} KiB of JSON")

    output = raw.get("output")
    if output is not None:
        if kind == "widget":
            bad("output", "only integrations declare an output; a widget declares accepts")
        else:
            output = output_schema(
                output, tree, f"{MANIFEST_FILE}.output", problems, read_files=read_files
            )
    accepts: tuple[str, ...] = ()
    if raw.get("accepts") is not None:
        if kind != "widget":
            bad("accepts", "only widgets declare what they accept; an integration declares output")
        else:
            accepts = accepted_shapes(raw["accepts"], f"{MANIFEST_FILE}.accepts", problems)

    if problems:
        raise InvalidInput(f"{MANIFEST_FILE}: {plural(len(problems), 'problem')}", problems)
    return Manifest(
        name=cast(str, name).strip(),
        kind=cast(Kind, kind),
        runtime=cast("Runtime | None", runtime),
        description=cast(str, description),
        tags=tuple(tags),
        version=version,
        sample=sample,
        output=output,
        accepts=accepts,
    )


def _read_manifest(tree: FileTree, problems: list[FieldError]) -> dict[str, Any]:
    if MANIFEST_FILE not in tree:
        return {}
    try:
        raw = json.loads(tree[MANIFEST_FILE].decode("utf-8-sig"))
    except UnicodeDecodeError:
        problems.append(FieldError(MANIFEST_FILE, "is not UTF-8 text"))
        return {}
    except json.JSONDecodeError as exc:
        problems.append(
            FieldError(
                MANIFEST_FILE,
                f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            )
        )
        return {}
    if not isinstance(raw, dict):
        problems.append(FieldError(MANIFEST_FILE, "must be a JSON object"))
        return {}
    return raw


def _infer(
    tree: FileTree, kind: str | None, runtime: str | None, problems: list[FieldError]
) -> tuple[str | None, str | None]:
    """Fill in kind and runtime from the entry files present at the top of the module."""
    if runtime is not None:
        return "integration", runtime
    candidates = [r for r in (*RUNTIMES, "widget") if ENTRY_FILES[r] in tree]
    if kind == "integration":
        candidates = [c for c in candidates if c != "widget"]
    if len(candidates) == 1:
        found = candidates[0]
        return ("widget", None) if found == "widget" else ("integration", found)
    if not candidates:
        wanted = (
            "main.py, index.js or main.go"
            if kind == "integration"
            else "main.py, index.js, main.go (integration) or index.html (widget)"
        )
        problems.append(FieldError(f"{MANIFEST_FILE}.kind", f"no entry file found: add {wanted}"))
    else:
        files = " and ".join(ENTRY_FILES[c] for c in candidates)
        key = "runtime" if kind == "integration" else "kind"
        problems.append(
            FieldError(
                f"{MANIFEST_FILE}.{key}",
                f"ambiguous: found {files}; say which in {MANIFEST_FILE} "
                '(for example {"kind": "integration", "runtime": "python"})',
            )
        )
    return kind, None


_HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_REF_LINK_RE = re.compile(r"\[([^\]]*)\]\[[^\]]*\]")
_TAG_HTML_RE = re.compile(r"</?[A-Za-z][^>]*>")
_EMPHASIS_RE = re.compile(r"(\*\*|__|\*|_|~~|`)(\S(?:.*?\S)?)\1")
_BLOCK_MARK_RE = re.compile(r"^(?:>\s?|[-*+]\s+|\d+[.)]\s+)+")


def readme_description(readme: bytes | str) -> str:
    """The first paragraph of a README as plain text (markdown stripped, at most
    :data:`MAX_DESCRIPTION_CHARS` characters).

    Headings, images, HTML comments, code blocks, tables and rules are skipped;
    links keep their text; emphasis and inline code lose their marks.
    """
    text = readme.decode("utf-8", "replace") if isinstance(readme, bytes) else readme
    text = _HTML_COMMENT_RE.sub("", text)
    paragraph: list[str] = []
    fenced = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            if paragraph:
                break
            continue
        if fenced:
            continue
        plain = _IMAGE_RE.sub("", stripped).strip()
        if plain and set(plain) <= set("=-") and paragraph:
            paragraph.pop()  # a setext heading underline: the line above was a heading
        skip = (
            not plain
            or plain.startswith(("#", "|"))
            or set(plain) <= set("-=*_ ")
            or line.startswith(("    ", "\t"))
        )
        if skip:
            if paragraph:
                break
            continue
        paragraph.append(_BLOCK_MARK_RE.sub("", plain))
    out = " ".join(paragraph)
    out = _LINK_RE.sub(r"\1", out)
    out = _REF_LINK_RE.sub(r"\1", out)
    out = _TAG_HTML_RE.sub("", out)
    for _ in range(2):  # nested emphasis such as ***x***
        out = _EMPHASIS_RE.sub(r"\2", out)
    out = " ".join(out.split())
    if len(out) > MAX_DESCRIPTION_CHARS:
        out = out[: MAX_DESCRIPTION_CHARS - 1].rstrip() + "…"
    return out
