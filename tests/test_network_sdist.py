"""sdists on the real PyPI (``pytest -m network``; deselected by default).

The projects of issue 10: hydra-core (antlr4-python3-runtime 4.9.3 is sdist-only), docopt
(sdist-only; ``--no-build`` must fail naming it), and ``"boto3==1.26.*" s3fs`` (an sdist-only
aiobotocore is visited while backtracking; the lock must equal the wheels-only one).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from skimlock.cli import main
from skimlock.errors import EXIT_METADATA

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.network

PYPI = "https://pypi.org/simple/"


def lock(path: Path, *args: str) -> int:
    return main(["lock", "-i", PYPI, "-o", str(path), *args])


def packages(path: Path) -> dict[str, str]:
    data = tomllib.loads(path.read_text())
    Pylock.from_dict(data)
    return {p["name"]: p["version"] for p in data["packages"]}


def test_hydra_core_builds_antlr(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert lock(tmp_path / "pylock.toml", "hydra-core") == 0, capsys.readouterr().err
    pins = packages(tmp_path / "pylock.toml")
    assert pins["antlr4-python3-runtime"] == "4.9.3"
    assert "built 1 sdist (" in capsys.readouterr().err


def test_docopt_builds_and_no_build_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert lock(tmp_path / "pylock.toml", "docopt") == 0
    assert packages(tmp_path / "pylock.toml") == {"docopt": "0.6.2"}
    capsys.readouterr()
    assert lock(tmp_path / "pylock.other.toml", "docopt", "--no-build") == EXIT_METADATA
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert error.startswith("error: metadata unavailable:")
    assert "docopt" in error
    assert "--no-build" in error
    assert not (tmp_path / "pylock.other.toml").exists()


@pytest.mark.timeout(600)
def test_boto3_s3fs_equals_the_wheels_only_lock(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wheels = tmp_path / "pylock.wheels.toml"
    assert lock(wheels, "boto3==1.26.*", "s3fs", "--only-binary", ":all:") == 0
    assert lock(tmp_path / "pylock.toml", "boto3==1.26.*", "s3fs", "--no-build") == 0
    capsys.readouterr()
    assert packages(tmp_path / "pylock.toml") == packages(tmp_path / "pylock.wheels.toml")
