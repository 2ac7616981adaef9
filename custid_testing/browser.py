"""Headless Chromium for the browser tests: Debian's own build, driven by Playwright.

No browser is downloaded: Playwright drives `/usr/bin/chromium` (the Debian
package `chromium`, installed by `.ci/run`). A machine without it fails the
browser tests rather than skipping them. Every page is opened with the
network cut off beyond this machine, so a page that needs the internet shows
it; each test leaves a screenshot in `test-artifacts/`.
"""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

CHROMIUM = os.environ.get("CUSTID_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
LOCAL = re.compile(r"^(https?://(127\.0\.0\.1|localhost)(:\d+)?/|data:|blob:|about:)")


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless; its absence fails the test run."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
            "fonts-dejavu-core (.ci/run installs them)",
            pytrace=False,
        )
    # The sandbox needs user namespaces, which CI's containers (running as root) lack.
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


class OfflineContext:
    """A browser context that can reach this machine only, and remembers what it refused."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900})
        self.refused: list[str] = []
        self.context.route("**/*", self._only_local)

    def _only_local(self, route: Route) -> None:
        url = route.request.url
        if LOCAL.match(url):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("internetdisconnected")


@pytest.fixture
def offline(browser: Browser, request: pytest.FixtureRequest) -> Iterator[OfflineContext]:
    """A fresh offline context; a screenshot of its last page is kept as an artifact."""
    context = OfflineContext(browser)
    yield context
    pages = context.context.pages
    if pages:
        ARTIFACTS.mkdir(exist_ok=True)
        pages[-1].screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    context.context.close()


@pytest.fixture
def page(offline: OfflineContext) -> Page:
    return offline.context.new_page()


def screenshot(page: Page, name: str) -> Path:
    """Keep what the page shows now as `test-artifacts/<name>.png`."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
