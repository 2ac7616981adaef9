"""Layers point one way: no module imports from a layer above its own.

From the bottom: `schemes` (pure: it imports nothing of the app); the ground,
`app.settings`, `app.logs` and `app.encoding`, which every layer above may use;
`app.store`; `app.core`; `app.services` (the wiring that builds the core's
services); `app.api` and `app.console` (HTTP); `app.cli` and `app.main` (what
starts it all). A module may import its own layer and those below.

Imports are read with `ast`, so one inside a function or under TYPE_CHECKING
counts as any other.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = (
    ("schemes",),
    ("app.settings", "app.catalog", "app.logs", "app.encoding"),
    ("app.store",),
    ("app.core",),
    ("app.services",),
    ("app.api", "app.console"),
    ("app.cli", "app.main"),
)
# Arrows up that stay, each with why. Settings check rates and hosts with the core's
# text rules when they are loaded, so a bad setting stops start-up naming itself; both
# modules are pure functions that import nothing of the app.
KNOWN_EXCEPTIONS = {
    ("app.settings", "app.core.rates"),
    ("app.settings", "app.core.addresses"),
}


def part_of(module: str) -> str | None:
    """The layer part (`app.core`, `schemes`...) `module` belongs to; None outside them."""
    for part in (name for layer in LAYERS for name in layer):
        if module == part or module.startswith(part + "."):
            return part
    return None


def height(part: str) -> int:
    """How high `part` stands, from 0 (schemes)."""
    return next(level for level, layer in enumerate(LAYERS) if part in layer)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[str]:
    """Every module `path` imports, relative imports made absolute."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            # `from app.core import errors` imports the module app.core.errors.
            yield from (
                f"{module}.{alias.name}"
                for alias in node.names
                if is_module(f"{module}.{alias.name}")
            )


def is_module(name: str) -> bool:
    """Whether `name` is a module or package of this project (not a name in one)."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def arrows() -> Iterator[tuple[str, str]]:
    """(importing module, imported module) for every import between layer parts."""
    for directory in ("app", "schemes"):
        for path in sorted((ROOT / directory).rglob("*.py")):
            source = module_name(path)
            for target in imported(path):
                if part_of(target) is not None and part_of(target) != part_of(source):
                    yield source, target


def arrow_up(source: str, target: str) -> bool:
    """Whether `source` importing `target` runs up the layers."""
    below, above = part_of(source), part_of(target)
    assert below is not None
    assert above is not None
    return height(above) > height(below)


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = {
        (source, target)
        for source, target in arrows()
        if arrow_up(source, target) and (part_of(source), target) not in KNOWN_EXCEPTIONS
    }

    assert not upward, "imports that run up the layers:\n" + "\n".join(
        f"  {source} -> {target}" for source, target in sorted(upward)
    )


def test_every_known_exception_is_still_there() -> None:
    found = {(part_of(source), target) for source, target in arrows()}

    assert KNOWN_EXCEPTIONS <= found, "an exception no longer needed: remove it from the list"


@pytest.mark.parametrize(
    ("source", "target", "up"),
    [
        ("app.store.database", "app.core.errors", True),
        ("app.core.issuing.issuer", "app.store.database", False),
        ("schemes.layout", "app.settings", True),
        ("app.api.issuing", "app.console.routes", False),
        ("app.core.sealing", "app.settings", False),
        ("app.logs", "app.core.clock", True),
        ("app.core.errors", "app.api.problems", True),
        ("app.services", "app.api.deps", True),
    ],
)
def test_the_rule_tells_up_from_down(source: str, target: str, up: bool) -> None:
    assert arrow_up(source, target) is up


def test_every_package_of_the_app_has_a_layer() -> None:
    packages = {
        module_name(path) for path in (ROOT / "app").glob("*.py") if path.name != "__init__.py"
    } | {module_name(path.parent) for path in (ROOT / "app").glob("*/__init__.py")}

    assert {package for package in packages if part_of(package) is None} == set()
