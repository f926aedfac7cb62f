"""Trying a built-in widget in Chromium: its registry page's preview ("Try it").

    preview = WidgetPreview.open(live_server, page, "gauge")
    before = preview.shot()
    assert ink(before) > 500                       # it drew something
    preview.set_data({"value": 80})                # the sample data box (JSON)
    preview.set_config("Maximum", "200")           # a field of its config form
    after = preview.shot_after_change(before)      # ... and it redrew (or fails)

The preview is the product's own: the widget runs in the real sandboxed frame from
``/frames/<ticket>/`` behind the real WidgetHost, fed by the registry page's config
form and sample data box. ``shot()`` waits until two consecutive screenshots of
the frame are the same (animations such as ECharts' have settled), with a deadline.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any, cast

from PIL import Image, ImageChops
from playwright.sync_api import FrameLocator, Locator, Page, expect

from tests.e2e.conftest import LiveServer
from visualbox.services.builtin import builtin_id

SETTLE_TIMEOUT_S = 10.0


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def ink(png: bytes) -> int:
    """Pixels that differ clearly from the picture's most common colour (its background)."""
    image = _image(png)
    counts = image.getcolors(maxcolors=image.width * image.height) or []
    background = cast("tuple[int, int, int]", max(counts)[1])
    plain = Image.new("RGB", image.size, background)
    return _clear(ImageChops.difference(image, plain))


def changed(a: bytes, b: bytes) -> int:
    """Pixels that differ clearly between two pictures of the same size."""
    return _clear(ImageChops.difference(_image(a), _image(b)))


def _clear(difference: Image.Image) -> int:
    """Pixels of a difference picture brighter than 40 of 255 (anti-aliasing is less)."""
    return difference.convert("L").point(lambda v: 255 if v > 40 else 0).histogram()[255]


class WidgetPreview:
    """The registry page of built-in widget ``name``, signed in, with its preview shown."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.box: Locator = page.locator(".preview-box")
        self.iframe: Locator = self.box.locator("iframe")
        self.frame: FrameLocator = page.frame_locator(".preview-box iframe")
        self.sample: Locator = page.get_by_label("Sample data (JSON)")
        self.config: Locator = page.get_by_role("group", name="Widget config")

    @classmethod
    def open(cls, live_server: LiveServer, page: Page, name: str) -> WidgetPreview:
        page.set_viewport_size({"width": 1280, "height": 900})
        live_server.sign_in(page, live_server.create_user())
        page.goto(f"{live_server.url}/registry/{builtin_id(name)}")
        preview = cls(page)
        expect(preview.iframe).to_be_visible()
        preview.iframe.scroll_into_view_if_needed()
        return preview

    def set_data(self, value: Any) -> None:
        self.sample.fill(json.dumps(value))

    def set_config(self, label: str, value: str) -> None:
        """Fill the text/number field labelled ``label`` (or choose ``value`` in a select)."""
        field = self.config.get_by_label(label, exact=True)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)

    def shot_after_change(self, before: bytes, pixels: int = 30) -> bytes:
        """The settled picture, once it differs from ``before`` in at least ``pixels``."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            now = self.shot()
            if changed(before, now) >= pixels:
                return now
        raise AssertionError(f"the widget did not redraw within {SETTLE_TIMEOUT_S} s")

    def shot(self) -> bytes:
        """A screenshot of the frame once it stopped changing (two equal pictures in a row)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last = self.iframe.screenshot(animations="disabled")
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(150)  # one screenshot per ~150 ms while it animates
            now = self.iframe.screenshot(animations="disabled")
            if now == last:
                return now
            last = now
        raise AssertionError(f"the widget kept changing for {SETTLE_TIMEOUT_S} s")
