"""`docs/architecture.md` is true to the code: what it names exists, and every package
of the service is on its map."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "architecture.md"
TEXT = DOCUMENT.read_text()
# A path the document names: `app/core/issuing/queue.py`, `app/api/models/`, `tests/faults` …
NAMED_PATH = re.compile(
    r"`((?:app|schemes|migrations|tests|custid_testing|clients|bench|docs)(?:/[\w.-]+)*/?)`"
)
# A row of the packages table: | `app/core/issuing` | … `queue.py` … |
PACKAGE_ROW = re.compile(r"^\| `([\w./]+)` \| (.*) \|$", re.MULTILINE)
MODULE = re.compile(r"`(\w+\.py)`")


def test_every_path_the_document_names_exists() -> None:
    named = set(NAMED_PATH.findall(TEXT))

    missing = sorted(path for path in named if not (ROOT / path).exists())

    assert len(named) > 40
    assert missing == []


def test_every_module_a_package_row_names_is_in_that_package() -> None:
    rows = PACKAGE_ROW.findall(TEXT)
    missing = [
        f"{package}/{module}"
        for package, description in rows
        if (ROOT / package).is_dir()
        for module in MODULE.findall(description)
        if not any((ROOT / package).rglob(module))
    ]

    assert {package for package, _ in rows} >= {"app/api", "app/core", "app/store", "schemes"}
    assert missing == []


def test_every_package_of_the_service_is_on_the_map() -> None:
    packages = sorted(
        str(init.parent.relative_to(ROOT))
        for top in ("app", "schemes")
        for init in (ROOT / top).rglob("__init__.py")
    )

    unmapped = [package for package in packages if f"`{package}" not in TEXT]

    assert "app/core/issuing" in packages
    assert unmapped == []


def test_each_question_of_where_something_happens_names_one_module() -> None:
    section = TEXT.split("## Where things happen", 1)[1].split("\n## ", 1)[0]
    answers = dict(re.findall(r"^\| ([^|]+?) \| `([\w/.]+)`", section, re.MULTILINE))

    assert {
        "issuing a number",
        "reserving, confirming, voiding",
        "idempotency",
        "events",
        "legacy import",
    } <= set(answers)
    assert [path for path in answers.values() if not (ROOT / path).exists()] == []
