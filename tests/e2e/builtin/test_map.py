"""The built-in Map widget in Chromium (no map tiles: nothing leaves the machine)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.widgets import WidgetPreview, ink

EXPECTED = 'Expected [lat, lon], {"lat", "lon"}, a list of those, {"markers", "track"} or GeoJSON'


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
    preview.shot_after_change(fifth)


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
