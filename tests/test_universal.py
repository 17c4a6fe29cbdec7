"""``skimlock lock --universal`` and ``skimlock check`` on a local index with platform wheels.

The graph (built once per module), and what a universal lock should make of it:

==========  =======  ==============================================================================
project     version  files / what it is for
==========  =======  ==============================================================================
app         1.0      needs plat, dropped, aligned, ``winonly; sys_platform == "win32"`` and
                     ``compat; python_version < "3.12"`` (marker-dependent dependencies)
plat        1.0      one wheel per platform (+ a manylinux_2_34 one the floor cannot use); the
                     Windows wheel's METADATA alone also requires ``winhelper``
dropped     1.0/2.0  2.0 dropped Python 3.11 (Requires-Python >=3.12): 1.0 for 3.11 only, as uv
aligned     1.0/2.0  2.0 has a Windows wheel only: Windows stays on 1.0 with the others
compiled    1.0/2.0  1.0 has a cp311-only wheel, 2.0 cp312-abi3 wheels: two versions, disjoint
sdplat      1.0      wheels for Linux and macOS, only an sdist (PEP 658 metadata) for Windows
winlib      1.0      a Windows-only wheel (like pywin32)
ext         1.0      extra ``speed`` adds ``speedup`` except on Windows
==========  =======  ==============================================================================
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.pylock import Pylock

from index import DistSpec
from index.graphs import serve_graph
from index.server import Server
from index.tree import Mode
from skimlock.cli import main
from skimlock.errors import InputError
from skimlock.universal import DEFAULT_PLATFORMS, NEWEST_PYTHON, environment_set

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLATFORM_TAGS = (
    "manylinux_2_17_x86_64", "manylinux_2_17_aarch64", "macosx_11_0_arm64",
    "macosx_10_13_x86_64", "win_amd64",
)


def _w(name: str, version: str, *deps: str, tag: str = "py3-none-any",
       requires_python: str | None = None, kind: str = "wheel") -> DistSpec:
    return DistSpec(name=name, version=version, requires_dist=deps, tag=tag,
                    requires_python=requires_python, kind=kind)  # type: ignore[arg-type]


UNIVERSAL_DISTS: tuple[DistSpec, ...] = (
    _w("app", "1.0", "plat", "dropped", "aligned", 'winonly; sys_platform == "win32"',
       'compat; python_version < "3.12"'),
    *(_w("plat", "1.0", *(("winhelper",) if tag == "win_amd64" else ()), tag=f"py3-none-{tag}")
      for tag in PLATFORM_TAGS),
    _w("plat", "1.0", tag="py3-none-manylinux_2_34_x86_64"),
    _w("winhelper", "1.0"),
    _w("winonly", "1.0"),
    _w("compat", "1.0"),
    _w("aligned", "1.0"),
    _w("aligned", "2.0", tag="py3-none-win_amd64"),
    _w("dropped", "1.0", requires_python=">=3.10"),
    _w("dropped", "2.0", requires_python=">=3.12"),
    _w("compiled", "1.0", tag="cp311-none-any"),
    *(_w("compiled", "2.0", tag=f"cp312-abi3-{tag}") for tag in PLATFORM_TAGS),
    *(_w("sdplat", "1.0", tag=f"py3-none-{tag}") for tag in PLATFORM_TAGS[:4]),
    _w("sdplat", "1.0", kind="sdist"),
    _w("winlib", "1.0", tag="py3-none-win_amd64"),
    DistSpec(name="ext", version="1.0", provides_extra=("speed",),
             requires_dist=('speedup; extra == "speed" and sys_platform != "win32"',)),
    _w("speedup", "1.0"),
)

REQUIREMENTS = ("app", "compiled", "sdplat", 'winlib; sys_platform == "win32"')
#: Every default environment from Python 3.11 (the floor the tests give) to the newest.
PYTHONS = [f"3.{m}" for m in range(11, NEWEST_PYTHON[1] + 1)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_graph(tmp_path_factory.mktemp("universal-graph"), UNIVERSAL_DISTS) as running:
        yield running


pytestmark = pytest.mark.usefixtures("cli_isolated")


@pytest.fixture(scope="module")
def universal_lock(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default universal lock of :data:`REQUIREMENTS` from Python 3.11, with its stats."""
    directory = tmp_path_factory.mktemp("universal-lock")
    server.log.clear()
    code = main(["lock", "--universal", "-i", server.simple_url, "--python-version", "3.11",
                 *REQUIREMENTS, "-o", str(directory / "pylock.toml"),
                 "--stats", str(directory / "stats.json")])
    assert code == 0
    (directory / "requests.json").write_text(json.dumps([e.path for e in server.log.entries]))
    return directory / "pylock.toml"


def _entries(path: Path) -> dict[tuple[str, str], dict[str, object]]:
    data = tomllib.loads(path.read_text())
    return {(p["name"], p["version"]): p for p in data["packages"]}


def _env(python: str, tag: str) -> dict[str, str]:
    from skimlock.universal import target_for

    major, minor = python.split(".")
    return target_for((int(major), int(minor)), tag).environment(None)


# --- the lock ----------------------------------------------------------------------------------


def test_universal_lock_entries_and_markers(universal_lock: Path) -> None:
    entries = _entries(universal_lock)
    markers = {key: entry.get("marker") for key, entry in entries.items()}
    assert markers == {
        ("app", "1.0"): None,
        ("compat", "1.0"): 'python_version < "3.12"',
        ("compiled", "1.0"): 'python_version < "3.12"',
        ("compiled", "2.0"): 'python_version >= "3.12"',
        ("aligned", "1.0"): None,  # the pins of earlier passes are preferred
        ("dropped", "1.0"): 'python_version < "3.12"',  # 2.0 needs 3.12: newer Pythons get it
        ("dropped", "2.0"): 'python_version >= "3.12"',
        ("plat", "1.0"): None,
        ("sdplat", "1.0"): None,
        ("winhelper", "1.0"): 'sys_platform == "win32"',  # from the Windows wheel's METADATA
        ("winlib", "1.0"): 'sys_platform == "win32"',
        ("winonly", "1.0"): 'sys_platform == "win32"',
    }
    plat = entries[("plat", "1.0")]
    wheels = {w["name"] for w in plat["wheels"]}  # type: ignore[union-attr]
    # Every wheel a covered machine may install, including the newer-glibc one.
    assert wheels == {f"plat-1.0-py3-none-{tag}.whl" for tag in
                      (*PLATFORM_TAGS, "manylinux_2_34_x86_64")}
    sdplat = entries[("sdplat", "1.0")]
    assert sdplat["sdist"]["name"] == "sdplat-1.0.tar.gz"  # type: ignore[index]
    assert len(sdplat["wheels"]) == 4  # type: ignore[arg-type]
    assert "sdist" not in plat  # every covered environment has a wheel of plat
    data = tomllib.loads(universal_lock.read_text())
    assert data["requires-python"] == ">=3.11"
    assert data["tool"]["skimlock"]["environments"] == [
        f"cp3{m}-{p}" for m in range(11, NEWEST_PYTHON[1] + 1) for p in DEFAULT_PLATFORMS
    ]
    Pylock.from_dict(data).validate()


def test_universal_lock_selects_one_entry_per_name_everywhere(universal_lock: Path) -> None:
    """What ``Pylock.select`` takes matches the resolution for each environment (the markers
    are exact and disjoint), checked here by evaluating them directly."""
    entries = _entries(universal_lock)
    for python in PYTHONS:
        for tag in PLATFORM_TAGS:
            env = _env(python, tag)
            matching = [key for key, entry in entries.items()
                        if "marker" not in entry or Marker(str(entry["marker"])).evaluate(env)]
            taken = dict(matching)
            assert len(taken) == len(matching), (python, tag, matching)  # one entry per name
            windows = tag == "win_amd64"
            expected = {"app", "plat", "dropped", "compiled", "sdplat", "aligned"}
            if windows:
                expected |= {"winlib", "winonly", "winhelper"}
            if python == "3.11":
                expected |= {"compat"}
            assert set(taken) == expected, (python, tag)
            assert taken["compiled"] == ("1.0" if python == "3.11" else "2.0")
            assert taken["dropped"] == ("1.0" if python == "3.11" else "2.0")


@pytest.mark.parametrize("python", PYTHONS)
def test_check_passes_for_every_environment(
    universal_lock: Path, python: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for tag in ("manylinux_2_28_x86_64", "manylinux_2_28_aarch64", "macosx_11_0_arm64",
                "macosx_10_15_x86_64", "win_amd64"):
        code = main(["check", str(universal_lock), "--python-version", python,
                     "--platform", tag])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.startswith("ok: CPython"), out
        if tag == "win_amd64":
            assert "(1 from sdist)" in out  # sdplat has no Windows wheel


def test_check_all_recorded_environments(
    universal_lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(universal_lock), "--all"]) == 0
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == len(PYTHONS) * len(DEFAULT_PLATFORMS)


def test_extra_environments_share_pages_and_metadata(universal_lock: Path) -> None:
    """Each page and each metadata file is fetched once for all 25 environments; what the
    environments after the first cost is in the stats."""
    paths = json.loads((universal_lock.parent / "requests.json").read_text())
    assert len(paths) == len(set(paths)), "a page or metadata file was fetched twice"
    assert not [p for p in paths if p.startswith("/files/") and not p.endswith(".metadata")]
    stats = json.loads((universal_lock.parent / "stats.json").read_text())
    section = stats["environments"]
    assert section["count"] == len(PYTHONS) * len(DEFAULT_PLATFORMS)
    passes = section["passes"]
    assert sum(p["requests"] for p in passes) + section["unattributed"]["requests"] == (
        stats["requests"])
    assert section["first"]["requests"] + section["others"]["requests"] == stats["requests"]
    assert section["first"]["body_bytes"] + section["others"]["body_bytes"] == (
        stats["body_bytes"])
    assert section["first"]["requests"] == passes[0]["requests"] > 0
    # Later environments fetch only what the first did not need: the Windows-only projects'
    # pages and the other platforms' wheel metadata.
    assert section["others"]["page_requests"] <= 3


def test_requirements_format_has_markers_and_all_hashes(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "--universal", "-i", server.simple_url, "--python-version", "3.11",
                 *REQUIREMENTS, "--format", "requirements", "-o", "requirements.txt"]) == 0
    capsys.readouterr()
    text = Path("requirements.txt").read_text()
    assert 'compiled==1.0 ; python_version < "3.12"' in text
    assert 'compiled==2.0 ; python_version >= "3.12"' in text
    assert 'winlib==1.0 ; sys_platform == "win32"' in text
    block = text.split("plat==1.0")[1].split("\n\n")[0].split("sdplat")[0]
    assert block.count("--hash=sha256:") == 6  # every platform's wheel


def test_environment_markers_narrow_the_set(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "-i", server.simple_url, "--python-version", "3.12",
                 "--environment", "sys_platform == 'linux'",
                 "--environment", "sys_platform == 'darwin' and platform_machine == 'arm64'",
                 *REQUIREMENTS]) == 0
    capsys.readouterr()
    data = tomllib.loads(Path("pylock.toml").read_text())
    labels = data["tool"]["skimlock"]["environments"]
    platforms = {label.split("-", 1)[1] for label in labels}
    assert platforms == {"linux-x86_64", "linux-aarch64", "macos-arm64"}
    names = {p["name"] for p in data["packages"]}
    assert "winlib" not in names
    assert "compat" not in names  # Python 3.12 and later only
    assert {p["name"]: p["version"] for p in data["packages"]}["compiled"] == "2.0"


# --- bad input ---------------------------------------------------------------------------------


def test_unsatisfiable_environment_is_one_line_naming_it(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["lock", "--universal", "-i", server.simple_url, "--python-version", "3.12",
                 "--environment", "sys_platform == 'darwin' or sys_platform == 'win32'",
                 "winlib"])
    assert code == 1
    _, err = capsys.readouterr()
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "CPython 3.12 on macOS arm64" in line
    assert "winlib" in line
    assert not Path("pylock.toml").exists()


def test_skip_unsatisfiable_narrows_the_lock_with_a_warning(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "--universal", "--skip-unsatisfiable", "-i", server.simple_url,
                 "--python-version", "3.14", "winlib"]) == 0
    _, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if "leaving" in line]
    assert len(warnings) == 2 * (len(DEFAULT_PLATFORMS) - 1)
    assert "cp314-macos-arm64" in err
    data = tomllib.loads(Path("pylock.toml").read_text())
    assert data["tool"]["skimlock"]["environments"] == ["cp314-windows-amd64",
                                                         "cp315-windows-amd64"]
    assert [m for m in data["environments"] if "win32" not in m] == []
    assert main(["check", "pylock.toml", "--all"]) == 0
    assert main(["check", "pylock.toml", "--python-version", "3.14",
                 "--platform", "macosx_11_0_arm64"]) == 1
    assert "does not satisfy any of the environments" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("marker", "says"),
    [
        ("sys_platform == 'linux' and sys_platform == 'win32'", "contradictory"),
        ("sys_platform == 'emscripten'", "matches none"),
        ("python_version >", "not a valid marker"),
        ("python_version ~= '3'", "cannot be evaluated"),
    ],
)
def test_bad_environment_markers(
    server: Server, marker: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "-i", server.simple_url, "--environment", marker, "app"]) == 2
    _, err = capsys.readouterr()
    assert says in err
    assert "Traceback" not in err


def test_check_reports_a_missing_wheel_by_name_and_environment(
    universal_lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tomllib.loads(universal_lock.read_text())
    for package in data["packages"]:
        if package["name"] == "plat":
            package["wheels"] = [w for w in package["wheels"] if "win_amd64" not in w["name"]]
    import tomli_w

    broken = Path("pylock.toml")
    broken.write_text(tomli_w.dumps(data))
    assert main(["check", str(broken), "--python-version", "3.12",
                 "--platform", "manylinux_2_28_x86_64"]) == 0
    capsys.readouterr()
    assert main(["check", str(broken), "--python-version", "3.12", "--platform", "win_amd64"]) == 1
    _, err = capsys.readouterr()
    assert "Windows AMD64" in err or "win_amd64" in err
    assert "plat" in err


def test_check_reports_an_unsatisfied_requirement(
    universal_lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tomllib.loads(universal_lock.read_text())
    data["packages"] = [p for p in data["packages"] if p["name"] != "winhelper"]
    import tomli_w

    broken = Path("pylock.toml")
    broken.write_text(tomli_w.dumps(data))
    assert main(["check", str(broken), "--python-version", "3.13", "--platform", "win_amd64"]) == 1
    _, err = capsys.readouterr()
    assert "winhelper (required by plat 1.0) is not in the lock" in err


def test_a_floor_above_the_newest_python_is_explained() -> None:
    with pytest.raises(InputError, match="the environment set is empty"):
        environment_set(floor=f"3.{NEWEST_PYTHON[1] + 1}")


def test_environment_set_defaults() -> None:
    envs = environment_set(floor="3.12")
    assert [e.label for e in envs[:5]] == [f"cp312-{p}" for p in DEFAULT_PLATFORMS]
    assert envs[-1].python == NEWEST_PYTHON
    from packaging.specifiers import SpecifierSet

    envs = environment_set(requires_python=SpecifierSet(">=3.13,<3.15"))
    assert sorted({e.python for e in envs}) == [(3, 13), (3, 14)]
    mac = next(e for e in envs if e.platform.name == "macos-x86_64")
    assert mac.target.markers["platform_machine"] == "x86_64"


# --- pip installs it ---------------------------------------------------------------------------

PIP = ("-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=180,
                          check=False)


@pytest.mark.timeout(300)
def test_pip_installs_the_universal_lock_here(
    universal_lock: Path, server: Server, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", str(venv))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    upgraded = _run(str(python), *PIP, "install", "-q", "pip>=26.1")
    if upgraded.returncode != 0:
        pytest.skip(f"cannot install pip>=26.1 from PyPI: {upgraded.stderr.strip()[-400:]}")
    installed = _run(str(python), *PIP, "install", "--no-index", "-r", str(universal_lock))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    checked = _run(str(python), *PIP, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = _run(str(python), *PIP, "list", "--format", "json")
    versions = {i["name"].lower(): i["version"] for i in json.loads(listed.stdout)}
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert versions["compiled"] == ("1.0" if here == "3.11" else "2.0")
    assert versions["plat"] == versions["sdplat"] == versions["app"] == "1.0"
    assert "winlib" not in versions
    # The requirements format: pip in hash-checking mode, markers evaluated here.
    assert main(["lock", "--universal", "-i", server.simple_url, "--python-version", "3.11",
                 *REQUIREMENTS, "--format", "requirements", "-o",
                 str(tmp_path / "requirements.txt")]) == 0
    target = tmp_path / "target"
    hashed = _run(str(python), *PIP, "install", "--require-hashes", "--target", str(target),
                  "-i", server.simple_url, "-r", str(tmp_path / "requirements.txt"))
    assert hashed.returncode == 0, hashed.stdout + hashed.stderr
    assert sorted(p.name for p in target.glob("*.dist-info")) == sorted(
        f"{name}-{version}.dist-info" for name, version in versions.items()
        if name not in ("pip", "setuptools")
    )


def test_platforms_widen_the_set_and_a_missing_wheel_names_the_environment(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--platform`` names the platforms (here one the defaults lack); plat has no wheel and
    no sdist for Linux ppc64le, so no lock is written and the error names both."""
    code = main(["lock", "--universal", "-i", server.simple_url, "--python-version", "3.14",
                 "--platform", "manylinux_2_28_x86_64", "--platform", "linux-ppc64le", "app"])
    assert code == 1
    _, err = capsys.readouterr()
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "CPython 3.14 on Linux ppc64le (cp314-linux-ppc64le)" in line
    assert "plat" in line
    assert not Path("pylock.toml").exists()


# --- cost of wheels whose METADATA comes first -------------------------------------------------

FRONT_DISTS = tuple(
    DistSpec(name="front", version="1.0", tag=f"py3-none-{tag}", dist_info_first=True,
             padding_bytes=400_000)
    for tag in PLATFORM_TAGS
)


def test_a_wheel_with_metadata_first_does_not_make_the_next_ones_whole_downloads(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Without PEP 658, a universal lock reads one wheel per platform by ranges. When the first
    one has its METADATA at the front (numpy, SQLAlchemy), the tail that reached it is the
    whole file: it must not be learned as the tail to ask of the next wheels (it was: a
    universal numpy lock on this machine's PyPI mirror fetched 282 MB instead of ~1 MB)."""
    import httpx

    from skimlock.fetch import Fetcher
    from skimlock.simple import IndexFile
    from skimlock.stats import Stats

    with serve_graph(tmp_path_factory.mktemp("front"), FRONT_DISTS, mode=Mode.NO_METADATA) as srv:
        assert srv.tree is not None
        with httpx.Client(trust_env=False, timeout=10.0) as client, \
                Fetcher(client, stats=Stats()) as fetcher:
            for tag in PLATFORM_TAGS:
                name = f"front-1.0-py3-none-{tag}.whl"
                listed = srv.tree.file(name)
                fetcher.metadata(IndexFile(filename=name, url=srv.file_url(name),
                                           hashes={"sha256": listed.sha256}, size=listed.size))
            spent = fetcher.stats.summary().body_bytes
    size = srv.tree.file(f"front-1.0-py3-none-{PLATFORM_TAGS[0]}.whl").size
    assert spent < size, f"{spent} bytes spent on five wheels of {size} bytes each"


def test_extras_give_markers_and_check_follows_them(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "--universal", "-i", server.simple_url, "--python-version", "3.14",
                 "ext[speed]"]) == 0
    entries = _entries(Path("pylock.toml"))
    assert {k: e.get("marker") for k, e in entries.items()} == {
        ("ext", "1.0"): None, ("speedup", "1.0"): 'sys_platform != "win32"',
    }
    assert main(["check", "pylock.toml", "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2 * len(DEFAULT_PLATFORMS)
    # Without speedup the extra is not satisfied where it applies (check reads the extras of
    # the requirements the lock records).
    data = tomllib.loads(Path("pylock.toml").read_text())
    data["packages"] = [p for p in data["packages"] if p["name"] != "speedup"]
    import tomli_w

    Path("pylock.toml").write_text(tomli_w.dumps(data))
    assert main(["check", "pylock.toml", "--python-version", "3.14",
                 "--platform", "win_amd64"]) == 0
    assert main(["check", "pylock.toml", "--python-version", "3.14",
                 "--platform", "macosx_11_0_arm64"]) == 1
    assert "speedup" in capsys.readouterr().err


def test_check_a_lock_without_skimlock_records(
    universal_lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another tool's lock: no [tool.skimlock]; the closure starts from every selected package."""
    data = tomllib.loads(universal_lock.read_text())
    del data["tool"]
    import tomli_w

    Path("other.toml").write_text(tomli_w.dumps(data))
    assert main(["check", "other.toml", "--python-version", "3.12", "--platform", "win_amd64"]) == 0
    assert main(["check", "other.toml", "--all"]) == 2
    assert "records no environments" in capsys.readouterr().err


def test_overlapping_markers_of_one_name_fall_back_to_exact_environment_markers() -> None:
    """Markers exact on the covered environments may still overlap outside them (Windows on
    3.12 here, not covered): two entries of one name must then get exact environment markers,
    which are disjoint everywhere (``Pylock.select`` errors when two entries of a name match)."""
    from dep_logic.markers import parse_marker
    from packaging.version import Version

    from skimlock import environments, universal

    by_name = {p.name: p for p in universal.PLATFORMS}
    envs = [environments._make((3, 11), by_name["windows-amd64"]),
            environments._make((3, 12), by_name["linux-x86_64"])]
    one, two = ("x", Version("1.0")), ("x", Version("2.0"))
    chosen = {one: universal._Choice(text='sys_platform == "win32"'),
              two: universal._Choice(text='python_version >= "3.12"')}
    where = {one: [(0, None)], two: [(1, None)]}
    universal._make_disjoint(chosen, where, envs)  # type: ignore[arg-type]
    assert chosen[one].exact
    assert chosen[two].exact
    assert (parse_marker(chosen[one].text) & parse_marker(chosen[two].text)).is_empty()
    assert [env.holds(Marker(chosen[one].text)) for env in envs] == [True, False]
    assert [env.holds(Marker(chosen[two].text)) for env in envs] == [False, True]
    windows_312 = environments._make((3, 12), by_name["windows-amd64"])
    assert not windows_312.holds(Marker(chosen[one].text))
    assert not windows_312.holds(Marker(chosen[two].text))
