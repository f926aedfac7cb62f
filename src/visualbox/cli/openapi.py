"""``visualbox openapi``: print the OpenAPI document of the REST API, offline."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from visualbox.settings import DatabaseSettings, Settings


class _Embedded(Settings):
    """The embedded defaults only: the environment and ``.env`` are not read, so the
    document never depends on where the command runs (and no configured database is
    touched)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def openapi_document() -> dict[str, Any]:
    """``/api/openapi.json`` of an app built on a temporary data directory."""
    from visualbox.app import create_app

    with tempfile.TemporaryDirectory(prefix="visualbox-openapi-") as folder:
        data = Path(folder)
        settings = _Embedded(
            data_dir=data, database=DatabaseSettings(url=f"sqlite:///{data / 'openapi.db'}")
        )
        app = create_app(settings)
        try:
            return app.openapi()
        finally:
            app.state.db.dispose()


@click.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the document to this file instead of standard output.",
)
def openapi(output: Path | None) -> None:
    """Print the OpenAPI document of the REST API (what /api/openapi.json serves).

    Needs no server and no configuration: it builds the app on a temporary data
    directory. The web app's TypeScript types are generated from it
    (npm --prefix frontend run types)."""
    text = json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
