"""Secrets committed by mistake: private keys and access tokens in a module's files.

:func:`scan` looks through every text file of a module for what should never be
published: a private key block (``-----BEGIN ... PRIVATE KEY-----``), a token of a
well-known format (AWS access key ids, GitHub, GitLab and Slack tokens, Stripe
secret keys, Google API keys) and, for ``NAME = "value"`` assignments whose name says
secret, password, token or key, a long high-entropy value. It *warns*: publishing
goes on and returns the warnings (a test fixture may hold a fake key on purpose).

It names the file and line and never repeats the secret itself. It imports nothing
of ours but the tree type (the module format's rule).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from visualbox.modules.tree import FileTree

MAX_SCANNED_BYTES = 1024 * 1024
"""Files larger than this (data, media) are not scanned."""
MAX_WARNINGS = 50
MIN_SECRET_CHARS = 20
MIN_ENTROPY_BITS = 3.5
"""Shannon entropy per character above which an assigned value looks random."""

_PRIVATE_KEY = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----")
_TOKENS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    # what it is, literals one of which it contains (a quick test first), the pattern
    ("an AWS access key id", ("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{40,})"),
    ),
    ("a GitLab token", ("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("a Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Stripe secret key", ("k_live_",), re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}")),
    ("a Google API key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
)
_SECRET_NAMES = ("secret", "passw", "token", "key")
_ASSIGNED = re.compile(
    r"(?i)(?:secret|passw(?:or)?d|token|api[_-]?key|access[_-]?key|private[_-]?key)"
    r"[\w.-]*[\"']?[ \t]*[:=][ \t]*[\"']([A-Za-z0-9+/=_\-.]{" + str(MIN_SECRET_CHARS) + r",})[\"']"
)


@dataclass(frozen=True)
class SecretWarning:
    file: str
    line: int
    reason: str

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def scan(tree: FileTree) -> list[SecretWarning]:
    """Every likely secret in ``tree``, one per file and line, by file and line (at most
    :data:`MAX_WARNINGS`). Each pattern runs only on files that hold its literal part,
    so a module of ordinary code at the size limits takes well under a second."""
    found: list[SecretWarning] = []
    for path in sorted(tree):
        data = tree[path]
        if len(data) > MAX_SCANNED_BYTES or b"\x00" in data[:8192]:
            continue
        text = data.decode("utf-8", "replace")
        lines: dict[int, str] = {}
        for start, reason in _findings(text)[: MAX_WARNINGS * 4]:
            lines.setdefault(text.count("\n", 0, start) + 1, reason)
        found.extend(SecretWarning(path, line, lines[line]) for line in sorted(lines))
        if len(found) >= MAX_WARNINGS:
            return found[:MAX_WARNINGS]
    return found


def _findings(text: str) -> list[tuple[int, str]]:
    """``(offset, reason)`` of each likely secret in ``text``, most certain kinds first."""
    out: list[tuple[int, str]] = []
    if "PRIVATE KEY" in text:
        for key in _PRIVATE_KEY.finditer(text):
            kind = key.group(1).strip()
            what = f"a private key block ({kind})" if kind else "a private key block"
            out.append((key.start(), f"{what}: remove it and revoke the key"))
    for name, literals, pattern in _TOKENS:
        if any(literal in text for literal in literals):
            out.extend(
                (m.start(), f"looks like {name}: remove it and revoke it")
                for m in pattern.finditer(text)
            )
    for start, end in _lines_naming_secrets(text):
        for match in _ASSIGNED.finditer(text, start, end):
            if entropy(match.group(1)) >= MIN_ENTROPY_BITS:
                out.append(
                    (
                        match.start(),
                        "a high-entropy value assigned to a secret-looking name: use a "
                        "password config field instead of committing it",
                    )
                )
    return out


def _lines_naming_secrets(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each line with a secret-looking word: the only lines the
    assignment pattern runs on (``str.find`` is much faster than a regex scan)."""
    spans: dict[int, int] = {}
    for word in _SECRET_NAMES:
        for spelling in (word, word.upper(), word.capitalize()):  # token, TOKEN, Token
            at = text.find(spelling)
            while at != -1:
                start = text.rfind("\n", 0, at) + 1
                end = text.find("\n", at)
                end = len(text) if end == -1 else end
                spans[start] = end
                at = text.find(spelling, end)
    return sorted(spans.items())
