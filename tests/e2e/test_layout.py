"""The layout round-trips exactly: what the builder shows, what is saved, what the public
view shows and what an export then import gives are the same grid, for generated
layouts (a 4×5 grid listed out of order, seeded random rectangles with gaps, a tall one
beside short ones)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer

COLUMNS = 24
ROW_PX = 30
"""The height of a grid row in pixels (frontend/src/builder/layout.ts)."""
Box = tuple[int, int, int, int]
"""x, y, w, h in grid cells."""


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def grid_4x5() -> list[Box]:
    """Four columns of six cells, five rows of four: listed column by column (the order
    a row-by-row sort would change)."""
    return [(col * 6, row * 4, 6, 4) for col in range(4) for row in range(5)]


def random_rectangles(seed: int, count: int = 14) -> list[Box]:
    """Non-overlapping rectangles anywhere in 24 columns × 30 rows, so with gaps: empty
    rows and columns above, between and beside them."""
    rng = random.Random(seed)
    boxes: list[Box] = []
    while len(boxes) < count:
        w, h = rng.randint(1, 10), rng.randint(1, 8)
        box = (rng.randint(0, COLUMNS - w), rng.randint(0, 30 - h), w, h)
        if not any(_overlaps(box, other) for other in boxes):
            boxes.append(box)
    return boxes


def tall_one() -> list[Box]:
    """A tall widget on the right of short ones, a gap above the first, one far below."""
    return [(0, 3, 8, 2), (8, 3, 8, 2), (16, 0, 8, 20), (0, 9, 16, 3), (4, 40, 4, 1)]


LAYOUTS = {
    "grid_4x5": grid_4x5(),
    "random_1": random_rectangles(1),
    "random_7": random_rectangles(7),
    "tall_one": tall_one(),
}


def _widgets(boxes: list[Box]) -> list[dict[str, Any]]:
    return [
        {"id": f"w{n}", "module_id": "builtin-value", "x": x, "y": y, "w": w, "h": h}
        for n, (x, y, w, h) in enumerate(boxes, 1)
    ]


def _placements(widgets: list[dict[str, Any]]) -> dict[str, Box]:
    return {w["id"]: (w["x"], w["y"], w["w"], w["h"]) for w in widgets}


def _cells(page: Page, grid: Locator, items: Locator, row_px: float, attr: str) -> dict[str, Box]:
    """Each item's grid cell, measured from where it is drawn: column pitch from the
    grid's width, row pitch ``row_px``."""
    frame = grid.bounding_box()
    assert frame is not None
    pitch = frame["width"] / COLUMNS
    found: dict[str, Box] = {}
    for box, key in page.evaluate(
        """([items, attr]) => items.map((el) => {
            const r = el.getBoundingClientRect();
            return [[r.left, r.top, r.right, r.bottom], el.getAttribute(attr)];
        })""",
        [items.element_handles(), attr],
    ):
        left, right = box[0] - frame["x"], box[2] - frame["x"]
        top, bottom = box[1] - frame["y"], box[3] - frame["y"]
        x, y = round(left / pitch), round(top / row_px)
        found[key] = (x, y, round(right / pitch) - x, round(bottom / row_px) - y)
    return found


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_builder_saved_public_and_export_show_the_same_grid(
    live_server: LiveServer, page: Page, name: str
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    user = live_server.create_user()
    live_server.sign_in(page, user)
    widgets = _widgets(LAYOUTS[name])
    expected = _placements(widgets)
    created = page.request.post(
        f"{live_server.url}/api/dashboards", data={"name": f"Layout {name}", "widgets": widgets}
    )
    assert created.status == 201, created.text()
    dashboard = created.json()
    url = f"{live_server.url}/api/dashboards/{dashboard['id']}"
    assert _placements(dashboard["widgets"]) == expected

    # The builder: gridstack's cells, and where the items are drawn.
    page.goto(f"{live_server.url}/d/{dashboard['id']}")
    items = page.locator(".grid-stack > .grid-stack-item")
    expect(items).to_have_count(len(widgets))
    attributes = {
        key: tuple(int(v) for v in value)
        for key, value in page.evaluate(
            """() => [...document.querySelectorAll('.grid-stack > .grid-stack-item')].map(
                (el) => [el.getAttribute('gs-id'), ['x', 'y', 'w', 'h'].map(
                    (a) => el.getAttribute('gs-' + a) ?? (a === 'w' || a === 'h' ? '1' : '0'))])"""
        )
    }
    assert attributes == expected
    builder_grid = page.locator(".grid-stack")
    drawn = page.locator(".grid-stack > .grid-stack-item [data-widget]")
    assert _cells(page, builder_grid, drawn, ROW_PX, "data-widget") == expected
    expect(page.get_by_role("status").filter(has_text="Unsaved")).to_have_count(0)

    # Unlocking and locking again moves nothing; the saved document is unchanged.
    page.get_by_role("button", name="Unlock layout").click()
    page.get_by_role("button", name="Lock layout").click()
    assert _cells(page, builder_grid, drawn, ROW_PX, "data-widget") == expected
    expect(page.get_by_role("status").filter(has_text="Unsaved")).to_have_count(0)
    saved = page.request.get(url).json()
    assert saved["revision"] == dashboard["revision"]
    assert _placements(saved["widgets"]) == expected

    # Saved elsewhere (another tab, the API): the builder follows to the exact cells,
    # here the layout turned upside down (each widget passes over others).
    bottom = max(w["y"] + w["h"] for w in widgets)
    turned = [{**w, "x": COLUMNS - w["x"] - w["w"], "y": bottom - w["y"] - w["h"]} for w in widgets]
    changed = page.request.patch(url, data={"revision": saved["revision"], "widgets": turned})
    assert changed.ok, changed.text()
    moved = next(w for w in turned if w["x"] > 0)
    expect(page.locator(f'.grid-stack-item[gs-id="{moved["id"]}"]')).to_have_attribute(
        "gs-x", str(moved["x"])
    )
    assert _cells(page, builder_grid, drawn, ROW_PX, "data-widget") == _placements(turned)
    expect(page.get_by_role("status").filter(has_text="Unsaved")).to_have_count(0)
    saved = page.request.get(url).json()
    assert saved["revision"] == changed.json()["revision"]
    expected = _placements(turned)
    assert _placements(saved["widgets"]) == expected

    # The public view draws the same cells.
    shared = page.request.post(f"{url}/sharing", data={"public": True})
    assert shared.ok, shared.text()
    page.goto(f"{live_server.url}/p/{shared.json()['token']}")
    cells = page.locator(".static-grid > .static-item > [data-widget]")
    expect(cells).to_have_count(len(widgets))
    assert _cells(page, page.locator(".static-grid"), cells, ROW_PX, "data-widget") == expected

    # Export and import: the same placements, and the builder shows them.
    exported = page.request.get(f"{url}/export")
    assert exported.ok
    assert _placements(exported.json()["widgets"]) == expected
    imported = page.request.post(f"{live_server.url}/api/dashboards/import", data=exported.json())
    assert imported.status == 201, imported.text()
    assert _placements(imported.json()["widgets"]) == expected
    page.goto(f"{live_server.url}/d/{imported.json()['id']}")
    expect(items).to_have_count(len(widgets))
    assert _cells(page, builder_grid, drawn, ROW_PX, "data-widget") == expected
    expect(page.get_by_role("status").filter(has_text="Unsaved")).to_have_count(0)

    # Nothing was saved behind the user's back.
    final = page.request.get(url).json()
    assert (final["revision"], final["widgets"]) == (saved["revision"], saved["widgets"])
    again = page.request.get(f"{live_server.url}/api/dashboards/{imported.json()['id']}")
    assert again.json()["revision"] == imported.json()["revision"]
