"""The operator console, driven in headless Chromium as an operator uses it."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from custid_testing.browser import OfflineContext, browser, offline, page, screenshot
from custid_testing.servers import ServiceProcess, create_key

__all__ = ["browser", "offline", "page"]  # fixtures


@dataclass(frozen=True)
class Console:
    """A running custid with an admin key, a read-only key and a few numbers."""

    service: ServiceProcess
    admin_key: str
    reader_key: str
    numbers: list[str]
    by_ref: str

    @property
    def url(self) -> str:
        return f"{self.service.url}/console"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    env = {"CUSTID_DATA_DIR": str(Path(tmp_path_factory.mktemp("console")))}
    admin_key = create_key(env, "operator", "numbers:admin", "numbers:read", "numbers:issue")
    reader_key = create_key(env, "helpdesk", "numbers:read")
    service = ServiceProcess(env).start()
    headers = {"Authorization": f"Bearer {admin_key}"}
    batch = httpx.post(
        f"{service.url}/v1/schemes/daily/numbers/batch", json={"count": 3}, headers=headers
    ).json()
    by_ref = httpx.post(
        f"{service.url}/v1/schemes/cust/numbers", json={"ref": "crm:acct-991"}, headers=headers
    ).json()["number"]
    yield Console(service, admin_key, reader_key, batch["numbers"], by_ref)
    service.stop()


def sign_in(page: Page, console: Console, key: str) -> None:
    page.goto(console.url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Schemes").wait_for()


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds wrong on the page (labels, contrast, landmarks, keyboard...)."""
    results = Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"  # it ran, on this page
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


@pytest.mark.slow
def test_nothing_is_shown_without_a_key(console: Console, page: Page) -> None:
    for path in ("", "/numbers", f"/numbers/{console.numbers[0]}"):
        page.goto(console.url + path)

        assert page.url == f"{console.url}/login"
        assert console.numbers[0] not in page.content()
    page.get_by_label("API key").fill("custid_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()

    assert "not valid" in page.get_by_role("alert").inner_text()
    assert "custid_console" not in {cookie["name"] for cookie in page.context.cookies()}


@pytest.mark.slow
def test_the_session_id_is_kept_in_an_httponly_strict_cookie(console: Console, page: Page) -> None:
    sign_in(page, console, console.reader_key)

    session = next(c for c in page.context.cookies() if c["name"] == "custid_console")
    assert session["value"] != console.reader_key  # a session id, never the key
    assert console.reader_key not in str(page.context.cookies())
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/console"
    assert page.evaluate("document.cookie") == ""  # no script on the page can read it


@pytest.mark.slow
def test_schemes_show_their_use_of_the_current_period(
    console: Console, offline: OfflineContext, page: Page
) -> None:
    sign_in(page, console, console.reader_key)

    daily = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="daily"))

    assert "3" in daily.get_by_role("cell").nth(2).inner_text()  # used
    assert "999" in daily.get_by_role("cell").nth(3).inner_text()  # capacity
    assert "0.3\u00a0%" in daily.inner_text()
    assert offline.refused == []
    screenshot(page, "console-schemes")


@pytest.mark.slow
def test_look_up_a_number_and_see_its_trail(console: Console, page: Page) -> None:
    sign_in(page, console, console.reader_key)
    number = console.numbers[1]

    page.get_by_label("Look up or validate a number").fill(number)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Trail").wait_for()

    assert page.get_by_role("heading", level=1).inner_text() == number
    trail = page.get_by_role("table", name=f"What happened to {number}, oldest first")
    assert "issued" in trail.inner_text()
    # A read-only key sees no way to change the number.
    assert page.get_by_role("button", name=f"Retire {number}").count() == 0
    screenshot(page, "console-number")


@pytest.mark.slow
def test_validate_a_mistyped_number(console: Console, page: Page) -> None:
    sign_in(page, console, console.reader_key)
    mistyped = console.by_ref[:-1] + str((int(console.by_ref[-1]) + 1) % 10)

    page.goto(f"{console.url}/numbers/{mistyped}")

    facts = page.locator("dl.facts").first.inner_text()
    assert "wrong (mistyped?)" in facts
    assert "malformed" in facts
    assert f"{mistyped} was never issued" in page.content()


@pytest.mark.slow
def test_find_a_number_by_ref_and_filter_the_list(console: Console, page: Page) -> None:
    sign_in(page, console, console.reader_key)
    page.get_by_role("link", name="Numbers").click()
    listed = page.get_by_role("table", name="Issued numbers")

    newest_first = [row.inner_text() for row in listed.get_by_role("rowheader").all()]
    page.get_by_label("Ref").fill("crm:acct-991")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url("**/console/numbers?ref=*")
    by_ref = [row.inner_text() for row in listed.get_by_role("rowheader").all()]
    page.get_by_label("Ref").fill("")
    page.get_by_label("Scheme").select_option("daily")
    page.get_by_label("Order").select_option("oldest")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url("**order=oldest*")
    daily_oldest = [row.inner_text() for row in listed.get_by_role("rowheader").all()]

    assert newest_first[0] == console.by_ref
    assert by_ref == [console.by_ref]
    assert daily_oldest[:3] == console.numbers


@pytest.mark.slow
def test_an_admin_retires_a_number_with_a_reason(console: Console, page: Page) -> None:
    sign_in(page, console, console.admin_key)
    number = console.numbers[2]
    page.goto(f"{console.url}/numbers/{number}")

    page.get_by_label("Reason to retire").fill("customer merged into another account")
    page.get_by_role("button", name=f"Retire {number}").click()
    page.get_by_role("status").wait_for()

    assert page.get_by_role("status").inner_text() == f"{number} was retired."
    trail = page.get_by_role("table", name=f"What happened to {number}, oldest first")
    assert "customer merged into another account" in trail.inner_text()
    assert "retired" in page.locator("dl.facts").first.inner_text()
    record = httpx.get(
        f"{console.service.url}/v1/numbers/{number}",
        headers={"Authorization": f"Bearer {console.reader_key}"},
    ).json()
    assert record["status"] == "retired"
    screenshot(page, "console-retired")


@pytest.mark.slow
def test_an_admin_replaces_a_number_and_lands_on_its_successor(
    console: Console, page: Page
) -> None:
    sign_in(page, console, console.admin_key)
    page.goto(f"{console.url}/numbers/{console.numbers[0]}")

    page.get_by_label("Reason to replace").fill("printed on a damaged card")
    page.get_by_role("button", name=f"Replace {console.numbers[0]}").click()
    page.get_by_role("status").wait_for()

    successor = page.get_by_role("heading", level=1).inner_text()
    assert successor != console.numbers[0]
    assert page.get_by_role("status").inner_text() == f"{console.numbers[0]} was replaced."
    page.goto(f"{console.url}/numbers/{console.numbers[0]}")
    assert page.get_by_role("link", name=successor).count() == 1  # replaced_by links to it


@pytest.mark.slow
def test_a_form_without_its_csrf_token_changes_nothing(console: Console, page: Page) -> None:
    number = console.numbers[1]
    sign_in(page, console, console.admin_key)
    session = next(c for c in page.context.cookies() if c["name"] == "custid_console")

    with httpx.Client(
        cookies={"custid_console": session["value"], "custid_console_csrf": "planted"}
    ) as browser_of_the_victim:
        forged = browser_of_the_victim.post(
            f"{console.url}/numbers/{number}/retire",
            data={"reason": "forged", "csrf_token": "planted"},
        )
    record = httpx.get(
        f"{console.service.url}/v1/numbers/{number}",
        headers={"Authorization": f"Bearer {console.reader_key}"},
    ).json()

    assert forged.status_code == 403
    assert record["status"] == "issued"


@pytest.mark.slow
def test_signing_in_and_looking_up_work_from_the_keyboard(console: Console, page: Page) -> None:
    page.goto(console.url)

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")  # brand
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "api-key"
    page.keyboard.type(console.reader_key)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Schemes").wait_for()
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand
    page.keyboard.press("Tab")  # Schemes
    page.keyboard.press("Tab")  # Numbers
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "lookup-number"
    page.keyboard.type(console.numbers[1])
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Trail").wait_for()


@pytest.mark.slow
def test_every_page_passes_the_axe_accessibility_check(console: Console, page: Page) -> None:
    page.goto(console.url)
    found = {"login": accessibility_violations(page)}
    sign_in(page, console, console.admin_key)
    found["schemes"] = accessibility_violations(page)
    page.goto(f"{console.url}/numbers")
    found["numbers"] = accessibility_violations(page)
    page.goto(f"{console.url}/numbers/{console.by_ref}")
    found["number"] = accessibility_violations(page)
    page.goto(f"{console.url}/numbers/not-a-number")
    found["never issued"] = accessibility_violations(page)

    summary = {
        name: [(v["id"], v["help"], len(v["nodes"])) for v in violations]
        for name, violations in found.items()
        if violations
    }
    assert summary == {}
