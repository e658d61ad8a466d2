"""Fixtures of the browser UI tests: Django test-client helpers, and the
Playwright set-up that drives Debian's Chromium (Playwright cannot download
a browser on the CI machines)."""
import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test's thread; the tests
# still touch the database directly (fixtures, assertions) from that thread.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() == "true"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def pytest_collection_modifyitems(config, items):
    """Browser tests need Chromium: skipped without it on a laptop, failed in CI."""
    if Path(CHROMIUM).exists() or IN_CI:
        return
    skip = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_setup(item):
    if "browser" in item.keywords and IN_CI and not Path(CHROMIUM).exists():
        pytest.fail(f"This test needs Chromium at {CHROMIUM} and CI did not provide it.")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 900}, "locale": "en-GB",
            "timezone_id": "UTC"}


@pytest.fixture
def screenshot_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def login(client):
    """``login(user)``: the Django test client, logged in as ``user``."""

    def do(user):
        client.force_login(user)
        return client

    return do


@pytest.fixture
def page(page):
    """Playwright's page, failing the test on any Content-Security-Policy
    violation: the browser blocks the script or style and only says so on the
    console, so a page could otherwise break silently."""
    violations = []
    page.on("console", lambda msg: violations.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text else None)
    yield page
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
