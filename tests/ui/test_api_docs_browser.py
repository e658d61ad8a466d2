"""The interactive API docs (Swagger UI) in a real browser under the
Content-Security-Policy: the page loads its script as a file and renders the
operations; any CSP violation fails the test (tests/ui/conftest.py)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_swagger_ui_renders_under_the_policy(page, live_server, make_user):
    make_user("release_manager", username="docs-reader")
    browser_login(page, live_server.url, "docs-reader", next_path="/api/docs/")
    page.wait_for_url(re.compile(r"/api/docs/"))
    # The page then fetches the schema, which the server generates on first
    # request (a few seconds on a busy two-core runner): wait for it longer
    # than Playwright's default five seconds.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Release and Deployment Management API",
                                                                      timeout=60_000)
    # Swagger UI draws a long list of operations as the reader scrolls (only
    # those near the screen are in the page): scroll down to the one sought.
    wanted = page.locator(".opblock-summary-path", has_text="/api/releases/{id}/transitions/{name}/").first
    for _ in range(200):
        if wanted.count():
            break
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(50)
    expect(wanted).to_be_visible()
