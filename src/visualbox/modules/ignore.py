"""``.visualboxignore``: which files of a module folder stay on the developer's machine.

The rules are a subset of ``.gitignore``'s, applied to ``'/'``-separated paths
relative to the module folder:

* blank lines and lines starting with ``#`` are skipped; trailing spaces are trimmed;
* ``*`` matches anything but ``/``, ``?`` one character but ``/``, ``[abc]`` one of a set
  (``[!abc]`` none of them), ``**`` any number of folders (``**/x``, ``x/**``, ``a/**/b``);
* a pattern with a ``/`` at its start or in its middle is anchored to the module folder;
  one without matches a name at any depth (``*.pyc``, ``node_modules``);
* a pattern ending in ``/`` matches folders only;
* ``!pattern`` includes again what an earlier pattern left out; the last matching
  pattern decides, and nothing inside a left-out folder can be included again.

:data:`DEFAULT_PATTERNS` come first, so a ``.visualboxignore`` can re-include one of
them (``!dist/``). Pure functions on paths: the caller walks the folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IGNORE_FILE = ".visualboxignore"

DEFAULT_PATTERNS = (
    ".git/",
    ".hg/",
    ".svn/",
    "node_modules/",
    ".venv/",
    "venv/",
    "__pycache__/",
    "dist/",
    "build/",
    "*.pyc",
    ".visualbox/",
)
"""Left out unless the module's ``.visualboxignore`` says ``!pattern``: version control,
dependencies, caches, build output, and ``.visualbox/`` (the link to the server that
``visualbox module pull`` writes)."""


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    folders_only: bool


@dataclass(frozen=True)
class IgnoreRules:
    """Compiled patterns; :meth:`ignores` answers for one path."""

    rules: tuple[_Rule, ...]

    @classmethod
    def parse(cls, text: str = "", *, defaults: bool = True) -> IgnoreRules:
        """The defaults (unless ``defaults`` is false), then the lines of ``text``."""
        lines = [*(DEFAULT_PATTERNS if defaults else ()), *text.splitlines()]
        return cls(tuple(rule for line in lines if (rule := _compile(line)) is not None))

    def ignores(self, path: str, *, is_folder: bool = False) -> bool:
        """Whether ``path`` is left out. A caller walking a folder asks about each folder
        before entering it; :meth:`ignores_path` also checks every parent."""
        ignored = False
        for rule in self.rules:
            if rule.folders_only and not is_folder:
                continue
            if rule.negated == ignored and rule.regex.fullmatch(path):
                ignored = not rule.negated
        return ignored

    def ignores_path(self, path: str) -> bool:
        """Whether the file ``path`` is left out, itself or through one of its folders."""
        parts = path.split("/")
        for i in range(1, len(parts)):
            if self.ignores("/".join(parts[:i]), is_folder=True):
                return True
        return self.ignores(path)


def _compile(line: str) -> _Rule | None:
    pattern = line.rstrip(" ")
    if not pattern or pattern.startswith("#"):
        return None
    negated = pattern.startswith("!")
    if negated:
        pattern = pattern[1:]
    elif pattern.startswith("\\"):  # \# or \! for a name that starts with one
        pattern = pattern[1:]
    folders_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    if not pattern:
        return None
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    body = _translate(pattern)
    regex = body if anchored else f"(?:.*/)?{body}"
    return _Rule(re.compile(regex, re.S), negated, folders_only)


def _translate(pattern: str) -> str:
    out: list[str] = []
    segments = pattern.split("/")
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "**":
            if index == last:
                out.append(".*")
            else:
                out.append("(?:.*/)?")
            continue
        out.append(_segment(segment))
        if index != last:
            out.append("/")
    return "".join(out)


def _segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            start = i + 2 if segment[i + 1 : i + 2] in ("!", "^") else i + 1
            end = segment.find("]", start + 1)  # a "]" first in the set is one of its members
            if end == -1:
                out.append(re.escape(char))
            else:
                inner = segment[i + 1 : end]
                if inner[:1] in ("!", "^"):
                    inner = "^" + inner[1:]
                out.append("[" + inner.replace("\\", "\\\\") + "]")
                i = end
        elif char == "\\" and i + 1 < len(segment):
            i += 1
            out.append(re.escape(segment[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
