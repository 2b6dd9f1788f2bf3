"""What the browser journeys share: viewports, waiting for a page's live socket, the phone-width check, and reading
the JSON a seeding script prints last."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

LIVE = 15_000  # ms: how long a change may take to reach an open page through its socket
PHONE_WIDTH = 375


def assert_no_horizontal_scroll(page: Page, width: int = PHONE_WIDTH) -> None:
    actual = page.evaluate("document.documentElement.scrollWidth")
    assert actual <= width, f"{page.url} is {actual}px wide on a {width}px phone"


def wait_live(page: Page, flag: str, *, state_testid: str | None = "live-state", timeout: int = LIVE) -> None:
    """The page's live socket is open (``window.<flag>.ready``), so a change made elsewhere reaches it."""
    page.wait_for_function(f"window.{flag} && window.{flag}.ready", timeout=timeout)
    if state_testid:
        expect(page.get_by_test_id(state_testid)).to_have_attribute("data-state", "open")


def last_json(out: str) -> dict:
    """The last line a ``manage.py shell -c`` seeding script printed, as JSON."""
    return json.loads(out.strip().splitlines()[-1])
