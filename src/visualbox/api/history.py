"""HTTP routes for history: one recorded series over a time range (docs/api/history.md).

Mounted with ``prefix="/api"``. The owner reads any series of a dashboard; a public
link reads the series its widgets show; anyone else gets 404. Parameters are checked by
the service after authorisation (so strangers learn nothing from a 422).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from visualbox.api.deps import CurrentUser, SessionDep, SettingsDep
from visualbox.schemas.history import HistoryPublic
from visualbox.services import history

router = APIRouter(tags=["history"])

CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "time,t_ms,value,min,max: one row per point.", "content": {"text/csv": {}}}
}


def _params(
    instance: Annotated[
        str | None, Query(description="Integration instance id, e.g. i1 (required).")
    ] = None,
    pointer: Annotated[
        str | None,
        Query(description="JSON Pointer into its output, e.g. /temperature; empty: all of it."),
    ] = None,
    start: Annotated[
        str | None,
        Query(alias="from", description="ISO 8601 or ms since the epoch; default: to - 1 h."),
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="ISO 8601 or ms since the epoch; default: now.")
    ] = None,
    points: Annotated[
        str | None,
        Query(description="About how many points (default 500, at most 10000; CSV 100000)."),
    ] = None,
) -> dict[str, str | None]:
    return {"instance": instance, "pointer": pointer, "from": start, "to": end, "points": points}


Params = Annotated[dict[str, str | None], Depends(_params)]


JSON: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The series as the JSON route answers it, as a file to download.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HistoryPublic"}}},
    }
}


def _json(series: HistoryPublic) -> Response:
    name = f"history-{series.instance}.json"
    return Response(
        series.model_dump_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _csv(series: HistoryPublic) -> Response:
    name = f"history-{series.instance}.csv"
    return Response(
        history.to_csv(series),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/dashboards/{dashboard_id}/history")
def dashboard_history(
    dashboard_id: str, params: Params, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> HistoryPublic:
    """One series of the caller's dashboard over a time range, downsampled."""
    return history.owner_history(db, settings.history, user, dashboard_id, params)


@router.get("/dashboards/{dashboard_id}/history.csv", response_class=Response, responses=CSV)
def dashboard_history_csv(
    dashboard_id: str, params: Params, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> Response:
    """The same series as CSV (every recorded value when there are at most ``points``)."""
    series = history.owner_history(
        db, settings.history, user, dashboard_id, params, csv_export=True
    )
    return _csv(series)


@router.get("/dashboards/{dashboard_id}/history.json", response_class=Response, responses=JSON)
def dashboard_history_json(
    dashboard_id: str, params: Params, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> Response:
    """The same series as a JSON file to download (the CSV's limits on ``points``)."""
    series = history.owner_history(
        db, settings.history, user, dashboard_id, params, csv_export=True
    )
    return _json(series)


@router.get("/public/dashboards/{token}/history")
def public_history(
    token: str, params: Params, db: SessionDep, settings: SettingsDep
) -> HistoryPublic:
    """A series a widget of the public dashboard shows. No sign-in needed."""
    return history.public_history(db, settings.history, token, params)


@router.get("/public/dashboards/{token}/history.csv", response_class=Response, responses=CSV)
def public_history_csv(
    token: str, params: Params, db: SessionDep, settings: SettingsDep
) -> Response:
    """The same series as CSV. No sign-in needed."""
    return _csv(history.public_history(db, settings.history, token, params, csv_export=True))


@router.get("/public/dashboards/{token}/history.json", response_class=Response, responses=JSON)
def public_history_json(
    token: str, params: Params, db: SessionDep, settings: SettingsDep
) -> Response:
    """The same series as a JSON file to download. No sign-in needed."""
    return _json(history.public_history(db, settings.history, token, params, csv_export=True))
