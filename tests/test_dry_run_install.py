"""``skimlock resolve`` as a dry-run install into a venv (``--python``), against pip's own
``pip install --dry-run --report`` for the same venv and distributions (``INSTALL_DISTS``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.tags import sys_tags

from index.graphs import INSTALL_DISTS, write_graph
from index.server import Server, serve_index
from index.tree import IndexTree, Mode
from skimlock.cli import main
from skimlock.errors import InputError
from skimlock.interpreter import from_report, query

PIP_ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_NO_INPUT": "1"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> IndexTree:
    return write_graph(tmp_path_factory.mktemp("install"), INSTALL_DISTS, mode=Mode.PEP658_SHA256)


@pytest.fixture(scope="module")
def server(tree: IndexTree) -> Iterator[Server]:
    with serve_index(tree) as running:
        yield running


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, tree: IndexTree) -> Path:
    """A venv (no pip of its own) with app 1.0 and lib 1.0, installed by pip from the dists."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    pip(python, tree, "install", "-q", "app==1.0", "lib==1.0")
    return python


def pip(python: Path, tree: IndexTree, *args: str) -> str:
    dists = tree.root.parent / "dists"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *args, "--no-index",
         "--find-links", str(dists)],
        capture_output=True, text=True, env=PIP_ENV, check=True,
    )
    return done.stdout


def installs(report: dict[str, object]) -> set[tuple[str, str]]:
    return {
        (item["metadata"]["name"], item["metadata"]["version"])  # type: ignore[index]
        for item in report["install"]  # type: ignore[attr-defined]
    }


def test_the_interpreter_is_described_as_it_describes_itself(venv: Path) -> None:
    found = query(str(venv))
    assert {name: str(v) for name, v in found.installed.items()} == {"app": "1.0", "lib": "1.0"}
    # The venv's base is the interpreter running the tests: same markers and tags.
    assert found.tags == tuple(sys_tags())
    assert dict(found.markers) == {k: str(v) for k, v in default_environment().items()}
    assert found.target().python_version == tuple(sys.version_info[:3])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["app"], set()),
        (["app", "-U"], {("app", "2.0")}),
        (["app", "-U", "--upgrade-strategy", "eager"], {("app", "2.0"), ("lib", "2.0")}),
        (["needslib2"], {("needslib2", "1.0"), ("lib", "2.0")}),
        (["lib"], set()),
    ],
)
def test_resolve_plans_what_pip_would_install(
    venv: Path, server: Server, capsys: pytest.CaptureFixture[str],
    args: list[str], expected: set[tuple[str, str]],
) -> None:
    ours = main(["resolve", "-i", server.simple_url, "--python", str(venv), "--report", "-",
                 *args])
    out, err = capsys.readouterr()
    assert ours == 0, err
    assert installs(json.loads(out)) == expected
    assert server.tree is not None
    theirs = pip(venv, server.tree, "install", "--dry-run", "-q", "--report", "-", *args)
    assert installs(json.loads(theirs)) == expected


def test_the_table_says_already_satisfied(
    venv: Path, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["resolve", "-i", server.simple_url, "--python", str(venv), "app"]) == 0
    out, err = capsys.readouterr()
    rows = {line.split("\t")[0]: line.split("\t")[2] for line in out.splitlines()[1:]}
    assert rows == {"app": "already satisfied", "lib": "already satisfied"}
    assert "2 packages (2 already satisfied)" in err
    assert main(["resolve", "-i", server.simple_url, "--python", str(venv), "app",
                 "--ignore-installed"]) == 0
    out = capsys.readouterr().out
    assert {line.split("\t")[1] for line in out.splitlines()[1:]} == {"2.0"}


def test_python_option_errors(capsys: pytest.CaptureFixture[str], venv: Path) -> None:
    assert main(["resolve", "--python", "/nonexistent/python", "x"]) == 2
    assert "no such interpreter" in capsys.readouterr().err
    assert main(["resolve", "--python", str(venv), "--python-version", "3.12", "x"]) == 2
    assert "drop --python-version" in capsys.readouterr().err


def test_foreign_interpreter_reports_become_tags() -> None:
    base = {
        "executable": "/x/python", "environment": {"python_version": "3.12"},
        "soabi": None, "ext_suffix": None, "py_debug": False, "gil_disabled": False,
        "glibc": None, "mac_version": "", "installed": [["Foo_Bar", "1.0"], ["bad", "x!"]],
    }
    linux = from_report({**base, "version": [3, 12, 1], "implementation": "cpython",
                         "soabi": "cpython-312-aarch64-linux-gnu", "platform": "linux-aarch64",
                         "pointer_bits": 64, "glibc": "glibc 2.28"})
    assert linux.platforms[:3] == (
        "manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_26_aarch64"
    )
    assert "manylinux2014_aarch64" in linux.platforms
    assert linux.platforms[-1] == "linux_aarch64"
    assert str(linux.tags[0]) == "cp312-cp312-manylinux_2_28_aarch64"
    assert {name: str(v) for name, v in linux.installed.items()} == {"foo-bar": "1.0"}
    windows = from_report({**base, "version": [3, 13, 0], "implementation": "cpython",
                           "ext_suffix": ".cp313t-win_amd64.pyd", "platform": "win-amd64",
                           "pointer_bits": 64})
    assert str(windows.tags[0]) == "cp313-cp313t-win_amd64"
    mac = from_report({**base, "version": [3, 11, 4], "implementation": "cpython",
                       "soabi": "cpython-311-darwin", "platform": "macosx-11.0-arm64",
                       "pointer_bits": 64, "mac_version": "14.2"})
    assert str(mac.tags[0]) == "cp311-cp311-macosx_14_0_arm64"
    pypy = from_report({**base, "version": [3, 10, 14], "implementation": "pypy",
                        "soabi": "pypy310-pp73-x86_64-linux-gnu", "platform": "linux-x86_64",
                        "pointer_bits": 32, "glibc": "glibc 2.17"})
    assert str(pypy.tags[0]) == "pp310-pypy310_pp73-manylinux_2_17_i686"
    assert pypy.target().implementation == "pp"
    with pytest.raises(InputError, match="unsupported implementation"):
        from_report({**base, "version": [3, 12, 0], "implementation": "graalpy",
                     "platform": "linux-x86_64"})


def test_preferred_versions_come_first_only_when_acceptable(server: Server) -> None:
    import httpx
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from skimlock.fetch import Fetcher
    from skimlock.inputs import collect_inputs
    from skimlock.resolve import ResolveOptions, resolve
    from skimlock.target import Target

    def pins(*requirements: str) -> dict[str, str]:
        options = ResolveOptions(indexes=(server.simple_url,),
                                 preferred={NormalizedName("lib"): Version("1.0")})
        with httpx.Client(trust_env=False) as client, Fetcher(client) as fetcher:
            resolution = resolve(collect_inputs(requirements=requirements), fetcher=fetcher,
                                 target=Target.from_options(python_version="3.12"),
                                 options=options)
        return {pin.name: str(pin.version) for pin in resolution.pins}

    assert pins("app") == {"app": "2.0", "lib": "1.0"}
    assert pins("needslib2") == {"needslib2": "1.0", "lib": "2.0"}
