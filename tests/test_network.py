"""Optional tests against the real PyPI (``pytest -m network``); deselected by default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from skimlock.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.network

PYPI = "https://pypi.org/simple/"


def test_metadata_of_requests_without_the_wheel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stats = tmp_path / "stats.json"
    code = main(["metadata", "requests==2.32.3", "--index-url", PYPI, "--stats", str(stats)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Name: requests\n" in out
    assert "Version: 2.32.3\n" in out
    data = json.loads(stats.read_text())
    (file,) = data["files"]
    assert file["strategy"] in ("metadata-pep658", "metadata-range")
    assert data["by_category"]["full-download"]["requests"] == 0
    assert file["spent_bytes"] < file["file_size"]


def test_lock_requests_rich_httpx(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    stats = tmp_path / "stats.json"
    code = main(
        ["lock", "requests", "rich", "httpx", "--index-url", PYPI, "-o", str(lock),
         "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64",
         "--stats", str(stats)]
    )
    _out, err = capsys.readouterr()
    assert code == 0, err
    pylock = Pylock.from_dict(tomllib.loads(lock.read_text()))
    names = {package.name for package in pylock.packages}
    assert {"requests", "rich", "httpx", "urllib3", "certifi"} <= names
    assert all(package.wheels for package in pylock.packages)
    data = json.loads(stats.read_text())
    assert data["by_category"]["full-download"]["requests"] == 0
    assert data["bytes_not_downloaded"] > 0


def test_resolve_report_fastapi(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code = main(["resolve", "fastapi", "--index-url", PYPI, "--report", str(report),
                 "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"])
    _out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["version"] == "1"
    names = {item["metadata"]["name"].lower() for item in data["install"]}
    assert {"fastapi", "starlette", "pydantic"} <= names
