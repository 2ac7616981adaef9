"""The README's route table names every route the app serves, with the scope it needs."""

import re
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Mount

from app.main import create_app
from app.settings import Settings
from custid_testing.backends import TEST_SCHEMES

README = Path(__file__).parents[2] / "README.md"
ROW = re.compile(r"^\| (?P<routes>`[^|]+`) \| (?P<scope>[^|]+) \|")
ROUTE = re.compile(r"`(?P<method>[A-Z]+) (?P<path>[^`]+)`")


def readme_routes() -> dict[tuple[str, str], str]:
    """(method, path) -> scope, from the table under "## HTTP API"."""
    section = README.read_text().split("## HTTP API", 1)[1].split("\n## ", 1)[0]
    table: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        if (row := ROW.match(line)) is not None:
            for route in ROUTE.finditer(row["routes"]):
                table[route["method"], route["path"].removesuffix("/…")] = row["scope"].strip()
    return table


def required_scope(operation: dict[str, Any]) -> str:
    """The scope an operation needs, as its documented 403 names it; "open" without one."""
    forbidden = operation["responses"].get("403")
    if forbidden is None:
        return "open"
    examples = forbidden["content"]["application/problem+json"]["examples"]
    return f"`{examples['forbidden']['value']['required_scope']}`"


def test_every_route_is_in_the_readme_with_its_scope(tmp_path: Path) -> None:
    app = create_app(Settings(schemes_file=TEST_SCHEMES, data_dir=tmp_path))
    documented = readme_routes()
    served = set()
    for route in app.routes:
        if isinstance(route, APIRoute):
            served |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
        elif isinstance(route, Mount):
            served.add(("GET", route.path))

    missing = sorted(served - set(documented))
    assert missing == [], "add these routes to the README's HTTP API table"
    operations = app.openapi()["paths"]
    for path, methods in operations.items():
        for method, operation in methods.items():
            scope = documented[method.upper(), path]
            assert scope.startswith(required_scope(operation)), (method, path, scope)
    assert documented["POST", "/v1/schemes/{scheme}/numbers/batch"] == "`numbers:issue`"
    assert documented["GET", "/metrics"] == "open"
