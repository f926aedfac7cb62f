"""The first run, as a newcomer has it: ``visualbox serve`` on an empty data directory,
sign up, and the sample dashboard is live within seconds."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, LiveServer
from tests.fixtures.ports import free_port
from tests.fixtures.serve import serving

LIVE_WITHIN_S = 10.0
NUMBER = re.compile(r"-?\d+(\.\d+)?")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``visualbox serve`` in a subprocess on an empty data directory; yields its URL."""
    with serving(tmp_path / "empty", free_port()) as (url, _printed):
        yield url


def test_sign_up_on_a_fresh_server_and_the_sample_is_live_within_seconds(
    served: str, page: Page
) -> None:
    page.goto(served)
    # An empty server opens on the sign-up page, for the first account.
    expect(page.get_by_role("heading", name="Welcome to VisualBox")).to_be_visible()
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create the first account").click()

    # The first account needs no mail (no SMTP server): straight to its dashboards.
    sample = page.get_by_role("link", name="Sample: a live device")
    expect(sample).to_be_visible()
    sample.click()
    opened = time.monotonic()

    def left() -> float:
        return max(0.0, LIVE_WITHIN_S - (time.monotonic() - opened)) * 1000

    value = page.frame_locator('iframe[title="Temperature"]').locator("#value")
    expect(value).to_have_text(NUMBER, timeout=left())
    first = value.inner_text()
    expect(value).not_to_have_text(first, timeout=left())
    expect(value).to_have_text(NUMBER)
    for title in ("Humidity", "Battery", "Position", "Temperature, last two minutes"):
        expect(page.locator(f'iframe[title="{title}"]')).to_be_visible()
    expect(page.get_by_text("Simulated device")).to_be_visible()


def test_anyone_without_dashboards_can_start_from_the_live_sample(
    live_server: LiveServer, page: Page
) -> None:
    live_server.sign_in(page, live_server.create_user())
    page.goto(live_server.url)
    expect(page.get_by_text("No dashboards yet")).to_be_visible()
    page.get_by_role("button", name="Start from the live sample").click()
    expect(page).to_have_url(re.compile(r"/d/[\w-]+$"))
    value = page.frame_locator('iframe[title="Temperature"]').locator("#value")
    expect(value).to_have_text(NUMBER, timeout=LIVE_WITHIN_S * 1000)
