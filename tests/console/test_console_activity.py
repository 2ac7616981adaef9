"""The console's pictures and activity pages, driven in headless Chromium: a scheme's issuance
per hour and per day with its capacity and forecast, webhooks, held reservations, the event
feed, the trail searched, the export downloaded; each page screenshotted and checked by axe."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from custid_testing.browser import OfflineContext, browser, offline, page, screenshot
from custid_testing.servers import ServiceProcess, create_key
from tests.console.test_console import accessibility_violations, sign_in

__all__ = ["browser", "offline", "page"]  # fixtures

SALES = {"X-Operator": "SALES-0042"}


@dataclass(frozen=True)
class Activity:
    """A running custid with some of everything: numbers, a retire, a held reservation, a
    webhook subscription whose receiver is down."""

    service: ServiceProcess
    admin_key: str
    reader_key: str
    issued: list[str]
    retired: str
    reservation: str
    subscription: str

    @property
    def url(self) -> str:
        return f"{self.service.url}/console"

    # What `sign_in` needs of a console.
    @property
    def numbers(self) -> list[str]:
        return self.issued


@pytest.fixture(scope="module")
def activity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Activity]:
    env = {
        "CUSTID_DATA_DIR": str(Path(tmp_path_factory.mktemp("activity"))),
        "CUSTID_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    admin_key = create_key(env, "operator", "numbers:admin", "numbers:read", "numbers:issue")
    reader_key = create_key(env, "helpdesk", "numbers:read")
    service = ServiceProcess(env).start()
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=service.url, headers=headers) as api:
        subscription = api.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/closed", "description": "ERP sync"}
        ).json()["id"]
        issued = api.post(
            "/v1/schemes/daily/numbers/batch", json={"count": 24}, headers=SALES
        ).json()["numbers"]
        for index in range(4):
            api.post("/v1/schemes/daily/numbers", json={"ref": f"crm:acct-{index}"})
        retired = issued[3]
        api.post(f"/v1/numbers/{retired}/retire", json={"reason": "duplicate"}, headers=SALES)
        reservation = api.post(
            "/v1/schemes/daily/reservations", json={"count": 2, "ttl_seconds": 3600}
        ).json()["id"]
    yield Activity(service, admin_key, reader_key, issued, retired, reservation, subscription)
    service.stop()


def serious(violations: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(v["id"], v["help"]) for v in violations if v["impact"] in ("serious", "critical")]


@pytest.mark.slow
def test_a_scheme_is_drawn_per_hour_and_per_day_with_its_capacity_and_forecast(
    activity: Activity, offline: OfflineContext, page: Page
) -> None:
    sign_in(page, activity, activity.reader_key)  # type: ignore[arg-type]
    daily = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="daily"))
    daily.get_by_role("link").last.click()
    page.get_by_role("heading", name="Issuance per hour").wait_for()

    hourly = page.get_by_role("img", name="daily: numbers issued per hour, last 24 hours")
    per_day = page.get_by_role("img", name="daily: numbers issued per day, last 30 days")
    assert hourly.count() == 1
    assert per_day.count() == 1
    assert "capacity 999/day" in per_day.inner_html()
    assert "forecast" in hourly.inner_html()  # 28 numbers just now: a rate to draw
    assert hourly.locator("rect").count() >= 24
    page.get_by_text("Figures per hour").click()
    figures = page.get_by_role("table", name="Numbers issued per hour, last 24 hours (UTC)")
    assert figures.get_by_role("row").last.get_by_role("cell").inner_text() == "30"
    assert offline.refused == []
    screenshot(page, "console-scheme-charts")
    assert serious(accessibility_violations(page)) == []


@pytest.mark.slow
def test_webhooks_show_their_state_and_an_admin_redelivers(activity: Activity, page: Page) -> None:
    sign_in(page, activity, activity.reader_key)  # type: ignore[arg-type]
    page.goto(f"{activity.url}/webhooks")
    table = page.get_by_role("table", name="Webhook subscriptions")
    assert activity.subscription in table.inner_text()
    assert "ERP sync" in table.inner_text()
    assert "http://127.0.0.1:9" in table.inner_text()
    assert "/closed" not in table.inner_text()  # a read key sees where, not the path
    assert page.get_by_role("button", name=f"Redeliver {activity.subscription}").count() == 0

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, activity, activity.admin_key)  # type: ignore[arg-type]
    page.goto(f"{activity.url}/webhooks")
    page.get_by_label("From event").fill("evt_1")
    page.get_by_role("button", name=f"Redeliver {activity.subscription}").click()
    page.get_by_role("status").wait_for()

    assert page.get_by_role("status").inner_text() == (
        f"Redelivery of {activity.subscription} started."
    )
    screenshot(page, "console-webhooks")
    assert serious(accessibility_violations(page)) == []
    page.get_by_label("From event").fill("evt_999999")
    page.get_by_role("button", name=f"Redeliver {activity.subscription}").click()
    assert "evt_999999" in page.get_by_role("alert").inner_text()


@pytest.mark.slow
def test_held_reservations_are_listed_with_their_expiry(activity: Activity, page: Page) -> None:
    sign_in(page, activity, activity.reader_key)  # type: ignore[arg-type]
    page.get_by_role("link", name="Held reservations").click()

    row = page.get_by_role("row").filter(has=page.get_by_text(activity.reservation))
    assert "daily" in row.inner_text()
    assert "in 60 min" in row.inner_text() or "in 59 min" in row.inner_text()
    screenshot(page, "console-reservations")
    assert serious(accessibility_violations(page)) == []


@pytest.mark.slow
def test_the_event_feed_shows_the_newest_changes_first(activity: Activity, page: Page) -> None:
    sign_in(page, activity, activity.reader_key)  # type: ignore[arg-type]
    page.get_by_role("link", name="Event feed").click()

    rows = page.get_by_role("table").get_by_role("row").all()
    types = [row.get_by_role("cell").nth(0).inner_text() for row in rows[1:]]
    assert types[0] == "number.reserved"
    assert "number.retired" in types
    assert types[-1] == "number.issued"
    screenshot(page, "console-events")
    assert serious(accessibility_violations(page)) == []


@pytest.mark.slow
def test_the_trail_is_searched_by_operator_ref_system_and_time(
    activity: Activity, page: Page
) -> None:
    sign_in(page, activity, activity.reader_key)  # type: ignore[arg-type]
    page.get_by_role("link", name="Trail search").click()
    page.get_by_label("Operator").fill("SALES-0042")
    page.get_by_role("button", name="Search").click()
    found = page.get_by_role("table", name="Trail events found, newest first")
    by_operator = [
        row.get_by_role("cell").nth(0).inner_text() for row in found.get_by_role("row").all()[1:]
    ]
    page.get_by_label("Operator").fill("")
    page.get_by_label("Ref system").fill("crm")
    page.get_by_label("From (UTC)").fill("2000-01-01T00:00")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**ref_system=crm*")
    by_ref = [row.inner_text() for row in found.get_by_role("row").all()[1:]]
    screenshot(page, "console-trail")
    assert serious(accessibility_violations(page)) == []
    page.get_by_label("Operator").fill("not an operator")
    page.get_by_role("button", name="Search").click()

    assert len(by_operator) == 25  # 24 issued, 1 retired
    assert by_operator[0] == "retired"
    assert by_operator.count("issued") == 24
    assert len(by_ref) == 4
    assert "operator" in page.get_by_role("alert").inner_text()


@pytest.mark.slow
def test_the_export_downloads_numbers_with_their_trail(activity: Activity, page: Page) -> None:
    sign_in(page, activity, activity.reader_key)  # type: ignore[arg-type]
    page.get_by_role("link", name="Export").click()
    page.get_by_label("Scheme").select_option("daily")
    page.get_by_label("Operator acted").fill("SALES-0042")
    screenshot(page, "console-export")
    assert serious(accessibility_violations(page)) == []
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Download").click()
    download = waiting.value

    assert download.suggested_filename.startswith("custid-daily-")
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert [row["number"] for row in rows] == activity.issued
    retired = next(row for row in rows if row["number"] == activity.retired)
    assert '"action":"retired"' in retired["trail"]


@pytest.mark.slow
def test_an_empty_time_range_is_refused_on_the_export(activity: Activity, page: Page) -> None:
    sign_in(page, activity, activity.reader_key)  # type: ignore[arg-type]
    page.goto(f"{activity.url}/export/download?from=2023-10-16T00:00&before=2023-10-15T00:00")

    assert "issued_from must be before issued_before" in page.get_by_role("alert").inner_text()
