"""The built-in Map widget in Chromium (tiles only from a loopback tile server)."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink

EXPECTED = (
    'Expected [lat, lon], {"lat", "lon"}, a list of those, {"markers", "track"}, '
    "points by name or GeoJSON"
)


def test_map_draws_markers_and_tracks_and_reacts(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "map")
    the_map = preview.frame.locator("#map")
    # The sample: two labelled markers and a track of 34 points, newest highlighted.
    expect(the_map).to_have_attribute("data-markers", "2")
    expect(the_map).to_have_attribute("data-track", "34")
    expect(the_map).to_have_attribute("data-tiles", "off")
    expect(the_map.locator(".leaflet-tooltip")).to_have_text(["Depot", "Drop-off 1"])
    expect(the_map.locator(".coords")).to_have_text("59.92268, 10.78152")
    expect(the_map.locator(".leaflet-control-scale-line")).to_have_text("500 m")
    expect(the_map.locator("img")).to_have_count(0)  # no tiles, no image markers
    first = preview.shot()
    assert ink(first) > 3000

    # One labelled point.
    preview.set_data({"lat": 48.8584, "lng": 2.2945, "label": "Eiffel Tower"})
    expect(the_map).to_have_attribute("data-markers", "1")
    expect(the_map).to_have_attribute("data-track", "0")
    expect(the_map.locator(".coords")).to_have_text("Eiffel Tower48.85840, 2.29450")
    second = preview.shot_after_change(first)

    # A list of points: markers, then a track with the switch.
    preview.set_data([[48.85, 2.29], [48.86, 2.30], [48.87, 2.33]])
    expect(the_map).to_have_attribute("data-markers", "3")
    third = preview.shot_after_change(second)
    preview.config.get_by_label("Draw as track", exact=True).check()
    expect(the_map).to_have_attribute("data-track", "3")
    expect(the_map).to_have_attribute("data-markers", "0")
    fourth = preview.shot_after_change(third)

    preview.set_config("Marker colour", "#dc2626")
    expect(the_map.locator("path.leaflet-interactive").first).to_have_attribute("fill", "#dc2626")
    fifth = preview.shot_after_change(fourth)

    # A fixed zoom instead of fitting the points.
    preview.set_config("Zoom", "6")
    expect(the_map.locator(".leaflet-control-scale-line")).to_have_text("100 km")
    sixth = preview.shot_after_change(fifth)

    # No text colour set: the theme's. The viewer's dark theme: light grid lines (SVG),
    # the corner box light text on the dark cell colour.
    expect(the_map.locator('path[stroke="#1f2937"]').first).to_be_attached()
    page.get_by_role("button", name="Use the dark theme").click()
    expect(the_map.locator('path[stroke="#e6e8ef"]').first).to_be_attached()
    expect(the_map.locator('path[stroke="#1f2937"]')).to_have_count(0)
    expect(the_map.locator(".coords")).to_have_css("color", "rgb(230, 232, 239)")
    preview.shot_after_change(sixth)


def test_map_reads_geojson(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "map")
    the_map = preview.frame.locator("#map")
    expect(the_map).to_have_attribute("data-track", "34")
    preview.set_data(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": "Ferry"},
                    "geometry": {"type": "Point", "coordinates": [10.7522, 59.9139]},
                },
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[10.7522, 59.9139], [10.70, 59.89], [10.61, 59.85]],
                    },
                },
            ],
        }
    )
    expect(the_map).to_have_attribute("data-markers", "1")
    expect(the_map).to_have_attribute("data-track", "3")
    expect(the_map.locator(".leaflet-tooltip")).to_have_text(["Ferry"])
    # GeoJSON positions are [lon, lat]: the newest point is at latitude 59.85.
    expect(the_map.locator(".coords")).to_have_text("59.85000, 10.61000")


def test_map_refuses_other_data_calmly(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "map")
    the_map = preview.frame.locator("#map")
    message = preview.frame.locator("#message")
    expect(the_map).to_have_attribute("data-track", "34")
    preview.set_data({"lat": 120, "lon": 10})  # no such latitude
    expect(message).to_have_text(EXPECTED)
    expect(the_map).to_have_attribute("data-markers", "0")
    expect(the_map).to_have_attribute("data-track", "0")
    preview.set_data("somewhere")
    expect(message).to_have_text(EXPECTED)
    preview.set_data([])
    expect(message).to_have_text("No data")
    preview.set_data([59.91, 10.75])
    expect(message).to_be_hidden()
    expect(the_map).to_have_attribute("data-markers", "1")


TILE_COLOUR = (167, 243, 208)


class _Tiles(BaseHTTPRequestHandler):
    """Every /{z}/{x}/{y}.png is a plain light-green tile."""

    png = b""
    served: list[str] = []

    def do_GET(self) -> None:
        if not re.fullmatch(r"/\d+/\d+/\d+\.png", self.path):
            self.send_error(404)
            return
        type(self).served.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.png)))
        self.end_headers()
        self.wfile.write(self.png)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback tile server: its origin and the tile paths it served."""
    out = io.BytesIO()
    Image.new("RGB", (256, 256), TILE_COLOUR).save(out, "PNG")
    served: list[str] = []
    handler = type("Tiles", (_Tiles,), {"png": out.getvalue(), "served": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_map_draws_tiles_from_an_allowed_server(
    live_server: LiveServer, page: Page, tile_server: tuple[str, list[str]]
) -> None:
    origin, served = tile_server
    # What the operator does with VISUALBOX_FRAMES__IMG_SOURCES (read on every frame).
    live_server.app.state.settings.frames.img_sources = [origin]
    preview = WidgetPreview.open(live_server, page, "map")
    the_map = preview.frame.locator("#map")
    expect(the_map).to_have_attribute("data-track", "34")
    before = preview.shot()
    preview.set_config("Tile URL template", origin + "/{z}/{x}/{y}.png")
    preview.set_config("Attribution", "Test tiles <b>")
    expect(the_map).to_have_attribute("data-tiles", "on")
    expect(the_map.locator("img.leaflet-tile-loaded").first).to_be_visible()
    expect(the_map.locator(".leaflet-control-attribution")).to_have_text("Test tiles <b>")
    after = preview.shot_after_change(before)
    assert served, "no tile was asked for"
    tile_pixels = Image.open(io.BytesIO(after)).convert("RGB").getcolors(1 << 24) or []
    assert sum(count for count, colour in tile_pixels if colour == TILE_COLOUR) > 10_000
    # The track is still drawn on top of the tiles; the grid is gone.
    expect(the_map).to_have_attribute("data-markers", "2")
    expect(the_map.locator(".grid-label")).to_have_count(0)


def test_map_draws_named_points_with_their_tracks(live_server: LiveServer, page: Page) -> None:
    preview = WidgetPreview.open(live_server, page, "map")
    the_map = preview.frame.locator("#map")
    tracks = the_map.locator("path.track")
    expect(the_map).to_have_attribute("data-track", "34")
    before = preview.shot()
    # The File collector's `positions`: one marker per device, a track where it has one.
    preview.set_data(
        {
            "station-a": {
                "t": 1764316800000,
                "lat": 78.9235,
                "lon": 11.93,
                "track": [[78.9229, 11.9312], [78.9232, 11.9306], [78.9235, 11.93]],
            },
            "station-b": {
                "t": 1764317400000,
                "lat": 78.2232,
                "lon": 15.6267,
                "track": [[78.2236, 15.6259], [78.2232, 15.6267]],
            },
            "buoy": {"lat": 78.5, "lon": 13.1, "label": "Buoy 7"},
            "offline": None,
        }
    )
    expect(the_map).to_have_attribute("data-markers", "3")
    expect(the_map).to_have_attribute("data-track", "5")
    expect(the_map.locator(".leaflet-tooltip")).to_have_text(["station-a", "station-b", "Buoy 7"])
    # The newest fix by time, not the last key.
    expect(the_map.locator(".coords")).to_have_text("station-b78.22320, 15.62670")
    # Each device its own colour, the first the configured one; markers match their track.
    expect(tracks).to_have_count(2)
    assert [tracks.nth(i).get_attribute("stroke") for i in range(2)] == ["#2563eb", "#ea580c"]
    markers = the_map.locator("path.leaflet-interactive")
    expect(markers).to_have_count(3)
    fills = [markers.nth(i).get_attribute("fill") for i in range(3)]
    assert fills == ["#2563eb", "#ea580c", "#16a34a"]
    after = preview.shot_after_change(before)

    preview.set_config("Marker colour", "#dc2626")
    expect(tracks.first).to_have_attribute("stroke", "#dc2626")
    expect(tracks.nth(1)).to_have_attribute("stroke", "#ea580c")
    preview.shot_after_change(after)

    # A value that is not a point is refused; only nulls is no data.
    preview.set_data({"station-a": {"lat": 78.9, "lon": 11.9}, "updated_at": 1764316800000})
    expect(preview.frame.locator("#message")).to_have_text(EXPECTED)
    expect(tracks).to_have_count(0)
    preview.set_data({"station-a": None})
    expect(preview.frame.locator("#message")).to_have_text("No data")
