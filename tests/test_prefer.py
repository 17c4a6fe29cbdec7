"""Pins of an existing lock read as preferences."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from skimlock.errors import InputError
from skimlock.prefer import read_preferences, release

PYLOCK = """\
lock-version = "1.0"
created-by = "skimlock"
requires-python = ">=3.10"

[[packages]]
name = "requests"
version = "2.31.0"
[[packages.wheels]]
name = "requests-2.31.0-py3-none-any.whl"
url = "https://files.example/requests-2.31.0-py3-none-any.whl"
hashes = {sha256 = "aa"}

[[packages]]
name = "numpy"
version = "2.0.2"
marker = "python_version < '3.11'"
[[packages.wheels]]
name = "numpy-2.0.2-cp310-cp310-manylinux_2_17_x86_64.whl"
url = "https://files.example/numpy-2.0.2-cp310-cp310-manylinux_2_17_x86_64.whl"
hashes = {sha256 = "bb"}

[[packages]]
name = "numpy"
version = "2.3.1"
marker = "python_version >= '3.11'"
[[packages.wheels]]
name = "numpy-2.3.1-cp311-cp311-manylinux_2_17_x86_64.whl"
url = "https://files.example/numpy-2.3.1-cp311-cp311-manylinux_2_17_x86_64.whl"
hashes = {sha256 = "cc"}
"""


def test_pylock_pins_every_version(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text(PYLOCK)
    assert read_preferences(path) == {
        "requests": (Version("2.31.0"),),
        "numpy": (Version("2.0.2"), Version("2.3.1")),
    }


def test_requirements_pins(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# generated\n"
        "Requests==2.31.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
        "urllib3==1.26.20\n"
        "idna>=3\n"
        "six==1.*\n"
    )
    assert read_preferences(path) == {
        "requests": (Version("2.31.0"),),
        "urllib3": (Version("1.26.20"),),
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pylock.toml", "lock-version = 1.0 = broken"),
        ("pylock.toml", 'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nversion = "1"\n'),
        ("requirements.txt", "-e ./local\n"),
    ],
)
def test_a_bad_file_is_an_input_error(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        read_preferences(path)


def test_release_drops_named_projects() -> None:
    prefs = {"requests": (Version("2.31.0"),), "urllib3": (Version("1.26.20"),)}
    assert release(prefs, ["Requests"]) == {"urllib3": (Version("1.26.20"),)}  # type: ignore[arg-type]
