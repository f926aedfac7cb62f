"""``.visualboxignore`` rules (``visualbox.modules.ignore``): the defaults and the syntax."""

from __future__ import annotations

import pytest

from visualbox.modules.ignore import IgnoreRules

DEFAULTS = IgnoreRules.parse()


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".git/HEAD", True),
        (".hg/store/data", True),
        (".svn/entries", True),
        ("node_modules/left-pad/index.js", True),
        ("web/node_modules/x.js", True),
        (".venv/bin/python", True),
        ("venv/lib/site.py", True),
        ("__pycache__/main.cpython-311.pyc", True),
        ("pkg/__pycache__/a.pyc", True),
        ("dist/bundle.js", True),
        ("build/out.o", True),
        ("helpers.pyc", True),
        ("deep/er/helpers.pyc", True),
        (".visualbox/module.json", True),
        ("main.py", False),
        ("README.md", False),
        ("distribution.txt", False),  # a name that starts like a default
        ("build.py", False),  # a file named like a default folder
        (".gitignore", False),
        (".visualboxignore", False),
    ],
)
def test_the_defaults(path: str, ignored: bool) -> None:
    assert DEFAULTS.ignores_path(path) is ignored


CUSTOM = IgnoreRules.parse(
    """
# comments and blank lines are skipped

*.log
/top.txt
docs/*.tmp
cache/
logs/**
**/fixtures/*.bin
a/**/z.txt
[ab]?.dat
!keep.log
!dist/
\\#hash.txt
"""
    + "trailing.txt   \n"  # trailing spaces are trimmed
)


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("server.log", True),
        ("sub/server.log", True),
        ("keep.log", False),  # brought back by a later !pattern
        ("sub/keep.log", False),
        ("top.txt", True),
        ("sub/top.txt", False),  # anchored: only at the top
        ("docs/a.tmp", True),
        ("docs/more/a.tmp", False),  # * never crosses a /
        ("cache/x", True),
        ("src/cache/x", True),  # a folder pattern without a / matches at any depth
        ("cache", False),  # ... but only folders
        ("logs/a/b/c.txt", True),
        ("fixtures/one.bin", True),
        ("t/u/fixtures/one.bin", True),
        ("a/z.txt", True),
        ("a/b/c/z.txt", True),
        ("b/z.txt", False),
        ("a1.dat", True),
        ("bz.dat", True),
        ("c1.dat", False),
        ("ab1.dat", False),
        ("dist/bundle.js", False),  # a default brought back
        ("#hash.txt", True),
        ("trailing.txt", True),
        ("main.py", False),
    ],
)
def test_the_syntax(path: str, ignored: bool) -> None:
    assert CUSTOM.ignores_path(path) is ignored


def test_nothing_inside_a_left_out_folder_comes_back() -> None:
    rules = IgnoreRules.parse("secret/\n!secret/public.txt\n")
    assert rules.ignores_path("secret/public.txt")


def test_without_the_defaults() -> None:
    rules = IgnoreRules.parse("*.tmp", defaults=False)
    assert not rules.ignores_path("node_modules/x.js")
    assert rules.ignores_path("x.tmp")


def test_a_negated_set_and_a_leading_bracket() -> None:
    rules = IgnoreRules.parse("[!a]x\n[]]y\n", defaults=False)
    assert rules.ignores_path("bx") and not rules.ignores_path("ax")
    assert rules.ignores_path("]y") and not rules.ignores_path("zy")
