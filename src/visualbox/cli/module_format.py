"""``visualbox module init`` and ``visualbox module check``: write and validate modules."""

from __future__ import annotations

import json
from pathlib import Path

import click

from visualbox.modules.check import CheckedModule, Problem, check_dir, check_tree, check_zip
from visualbox.modules.manifest import KINDS, RUNTIMES, Kind, Runtime
from visualbox.modules.scaffold import scaffold
from visualbox.modules.tree import LIMITS, content_hash, write_dir


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What to create.")
@click.option(
    "--runtime",
    type=click.Choice(RUNTIMES),
    default=None,
    help="Language of an integration (default: python). Not for widgets.",
)
@click.option("--name", default=None, help="Module name (default: the folder's name).")
def init(directory: Path, kind: Kind, runtime: Runtime | None, name: str | None) -> None:
    """Create a working example module in DIRECTORY (new or empty)."""
    if directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"{directory} is not empty; choose a new or empty folder")
    if kind == "widget" and runtime is not None:
        raise click.UsageError("--runtime is for integrations; widgets are HTML")
    if kind == "integration" and runtime is None:
        runtime = "python"
    name = name or directory.resolve().name
    tree = scaffold(kind, runtime, name)
    checked, problems = check_tree(tree, default_name=name)
    if checked is None:
        raise click.ClickException(
            "cannot create this module:\n" + "\n".join(f"  {p}" for p in problems)
        )
    write_dir(tree, directory)
    what = f"{kind} ({runtime})" if runtime else kind
    click.echo(f"Created {what} {name!r} in {directory}:")
    for path in sorted(tree):
        click.echo(f"  {path}")
    click.echo(f"Next: visualbox module check {directory}")


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def check(path: Path, as_json: bool) -> None:
    """Validate the module in PATH (a folder, or a .zip of one).

    Prints every problem as `file: field: reason` and exits 1, or prints a short
    summary and exits 0.
    """
    if path.is_dir():
        checked, problems = check_dir(path)
    else:
        with path.open("rb") as fh:
            data = fh.read(LIMITS.max_total_bytes + 1)
        if len(data) > LIMITS.max_total_bytes:
            checked, problems = (
                None,
                [Problem("archive", "", f"larger than {LIMITS.max_total_bytes} bytes")],
            )
        else:
            checked, problems = check_zip(data, default_name=path.stem)
    if as_json:
        click.echo(json.dumps(_as_json(checked, problems), indent=2))
    elif checked is None:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{len(problems)} problem(s) in {path}", err=True)
    else:
        m = checked.manifest
        runtime = f", {m.runtime}" if m.runtime else ""
        fields = len(checked.schema.fields)
        click.echo(f"OK: {m.name} ({m.kind}{runtime}), {fields} config field(s)")
    if checked is None:
        raise SystemExit(1)


def _as_json(checked: CheckedModule | None, problems: list[Problem]) -> dict[str, object]:
    if checked is None:
        return {"ok": False, "problems": [p.as_dict() for p in problems]}
    return {
        "ok": True,
        "module": {
            **checked.manifest.to_json(),
            "config": checked.schema.to_json(),
            "files": len(checked.tree),
            "bytes": sum(len(c) for c in checked.tree.values()),
            "content_hash": content_hash(checked.tree),
        },
        "problems": [],
    }
