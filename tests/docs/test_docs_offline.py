"""`/docs` and `/redoc` render in a real browser with no internet: every asset is custid's own."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from custid_testing.browser import OfflineContext, browser, offline, page, screenshot
from custid_testing.servers import ServiceProcess

__all__ = ["browser", "offline", "page"]  # fixtures


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    data = tmp_path_factory.mktemp("docs-offline")
    served = ServiceProcess({"CUSTID_DATA_DIR": str(Path(data))}).start()
    yield served
    served.stop()


@pytest.mark.slow
def test_swagger_ui_renders_every_operation_offline(
    service: ServiceProcess, offline: OfflineContext, page: Page
) -> None:
    page.goto(f"{service.url}/docs")

    operations = page.locator(".swagger-ui .opblock")
    operations.first.wait_for(timeout=30_000)
    page.get_by_text("Issue up to 10,000 numbers").first.wait_for()

    assert operations.count() >= 20
    assert offline.refused == []
    screenshot(page, "docs-swagger-ui")


@pytest.mark.slow
def test_redoc_renders_the_document_offline(
    service: ServiceProcess, offline: OfflineContext, page: Page
) -> None:
    page.goto(f"{service.url}/redoc")

    page.get_by_role("heading", name="Issue one number").first.wait_for(timeout=30_000)

    assert offline.refused == []
    screenshot(page, "docs-redoc")
