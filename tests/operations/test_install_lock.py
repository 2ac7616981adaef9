"""The install is locked: the environment the suite runs in is exactly uv.lock, and
the uv the Makefile bootstraps is the one the lock and pyproject.toml name."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (version,) = [entry["version"] for entry in lock["package"] if entry["name"] == package]
    return str(version)


def test_the_installed_environment_is_exactly_the_lock() -> None:
    uv = Path(sys.prefix) / "bin" / "uv"
    environment = {**os.environ, "UV_PROJECT_ENVIRONMENT": sys.prefix}
    checked = subprocess.run(
        [str(uv), "sync", "--locked", "--check", "--offline"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "Would make no changes" in checked.stderr


def test_the_makefile_bootstraps_the_uv_the_lock_names() -> None:
    makefile = (ROOT / "Makefile").read_text()
    bootstrapped = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert bootstrapped is not None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["uv"]["required-version"] == f"=={bootstrapped.group(1)}"
    assert locked_version("uv") == bootstrapped.group(1)


def test_every_locked_distribution_carries_hashes() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    from_index = [entry for entry in lock["package"] if "registry" in entry["source"]]
    assert from_index
    for entry in from_index:
        files = entry.get("wheels", []) + ([entry["sdist"]] if "sdist" in entry else [])
        assert files, entry["name"]
        assert all(file["hash"].startswith("sha256:") for file in files), entry["name"]


def test_the_image_installs_from_the_lock_with_the_same_uv() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    uv_version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert uv_version is not None
    assert f"uv=={uv_version.group(1)}" in dockerfile
    installs = [line for line in dockerfile.splitlines() if "uv sync" in line]
    assert installs
    assert all("--locked" in line for line in installs)
    assert "pip install" not in dockerfile.replace("pip install --no-cache-dir uv==", "")
