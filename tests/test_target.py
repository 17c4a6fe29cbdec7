"""Targets: platform tags' marker values, default ABIs, what a lock claims, one machine each.

Marker values are checked against what the real interpreter reports on each platform:
``platform.machine()`` is ``uname -m`` on Linux and macOS (x86_64, i686, aarch64, ppc64le, s390x,
armv7l; a Mac says x86_64 or arm64) and ``PROCESSOR_ARCHITECTURE`` on Windows (AMD64, x86, ARM64);
``sys.platform`` is linux / darwin / win32, ``os.name`` posix / nt, ``platform.system()`` Linux /
Darwin / Windows. The lock-level tests resolve against a real index on loopback.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging import tags
from packaging.markers import Marker, default_environment
from packaging.pylock import Pylock
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from index import DistSpec
from index.graphs import serve_graph
from index.server import Server
from skimlock.cli import main
from skimlock.errors import InputError
from skimlock.target import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LINUX = ("linux", "posix", "Linux")
MACOS = ("darwin", "posix", "Darwin")
WINDOWS = ("win32", "nt", "Windows")

#: platform tag -> (sys_platform, os_name, platform_system), platform_machine
PLATFORMS: list[tuple[str, tuple[str, str, str], str]] = [
    # manylinux, every spelling, every architecture manylinux defines
    ("manylinux1_x86_64", LINUX, "x86_64"),
    ("manylinux1_i686", LINUX, "i686"),
    ("manylinux2010_x86_64", LINUX, "x86_64"),
    ("manylinux2010_i686", LINUX, "i686"),
    ("manylinux2014_x86_64", LINUX, "x86_64"),
    ("manylinux2014_i686", LINUX, "i686"),
    ("manylinux2014_aarch64", LINUX, "aarch64"),
    ("manylinux2014_ppc64le", LINUX, "ppc64le"),
    ("manylinux2014_ppc64", LINUX, "ppc64"),
    ("manylinux2014_s390x", LINUX, "s390x"),
    ("manylinux2014_armv7l", LINUX, "armv7l"),
    ("manylinux_2_17_x86_64", LINUX, "x86_64"),
    ("manylinux_2_28_x86_64", LINUX, "x86_64"),
    ("manylinux_2_28_aarch64", LINUX, "aarch64"),
    ("manylinux_2_28_ppc64le", LINUX, "ppc64le"),
    ("manylinux_2_28_s390x", LINUX, "s390x"),
    ("manylinux_2_31_armv7l", LINUX, "armv7l"),
    ("manylinux_2_34_i686", LINUX, "i686"),
    ("manylinux_2_39_riscv64", LINUX, "riscv64"),
    ("manylinux-2-28-x86-64", LINUX, "x86_64"),  # spelled with dashes
    # musllinux
    ("musllinux_1_1_x86_64", LINUX, "x86_64"),
    ("musllinux_1_2_x86_64", LINUX, "x86_64"),
    ("musllinux_1_2_i686", LINUX, "i686"),
    ("musllinux_1_2_aarch64", LINUX, "aarch64"),
    ("musllinux_1_2_ppc64le", LINUX, "ppc64le"),
    ("musllinux_1_2_s390x", LINUX, "s390x"),
    ("musllinux_1_2_armv7l", LINUX, "armv7l"),
    # plain linux
    ("linux_x86_64", LINUX, "x86_64"),
    ("linux_aarch64", LINUX, "aarch64"),
    ("linux_armv7l", LINUX, "armv7l"),
    ("linux_i686", LINUX, "i686"),
    # macOS: the machines are x86_64 and arm64 (older: i386, PowerPC)
    ("macosx_13_0_x86_64", MACOS, "x86_64"),
    ("macosx_10_9_x86_64", MACOS, "x86_64"),
    ("macosx_11_0_arm64", MACOS, "arm64"),
    ("macosx_14_0_arm64", MACOS, "arm64"),
    ("macosx_10_9_universal2", MACOS, "arm64"),
    ("macosx_11_0_universal2", MACOS, "arm64"),
    ("macosx_10_6_intel", MACOS, "x86_64"),
    ("macosx_10_9_fat64", MACOS, "x86_64"),
    ("macosx_10_9_fat3", MACOS, "x86_64"),
    ("macosx_10_6_universal", MACOS, "x86_64"),
    ("macosx_10_5_fat", MACOS, "i386"),
    ("macosx_10_6_i386", MACOS, "i386"),
    ("macosx_10_5_ppc", MACOS, "Power Macintosh"),
    ("macosx_10_5_ppc64", MACOS, "Power Macintosh"),
    # Windows
    ("win_amd64", WINDOWS, "AMD64"),
    ("win32", WINDOWS, "x86"),
    ("win_arm64", WINDOWS, "ARM64"),
]

#: ``platform.machine()`` values real interpreters report, by ``sys.platform``.
REAL_MACHINES = {
    "linux": {"x86_64", "i686", "aarch64", "ppc64le", "ppc64", "s390x", "armv7l", "riscv64"},
    "darwin": {"x86_64", "arm64", "i386", "Power Macintosh"},
    "win32": {"AMD64", "x86", "ARM64"},
}


def real_machine(target: Target) -> dict[str, str]:
    """The marker environment of a real interpreter on the target's machine (extra empty)."""
    env = {key: str(value) for key, value in default_environment().items()}
    env.update({key: target.markers[key] for key in
                ("os_name", "sys_platform", "platform_system", "platform_machine",
                 "python_version", "python_full_version", "implementation_name",
                 "platform_python_implementation", "implementation_version")})
    env["platform_release"] = "6.1.0"
    env["platform_version"] = "#1 SMP"
    env["extra"] = ""
    return env


# --- item 4: marker values of platform tags -----------------------------------------------------


@pytest.mark.parametrize(("tag", "system", "machine"), PLATFORMS, ids=[p[0] for p in PLATFORMS])
def test_platform_tag_markers(tag: str, system: tuple[str, str, str], machine: str) -> None:
    target = Target.from_options(python_version="3.12", platforms=[tag])
    sys_platform, os_name, platform_system = system
    assert target.markers["sys_platform"] == sys_platform
    assert target.markers["os_name"] == os_name
    assert target.markers["platform_system"] == platform_system
    assert target.markers["platform_machine"] == machine
    assert machine in REAL_MACHINES[sys_platform]
    # The lock's environments line is satisfied by a real machine of that platform.
    assert target.environment_marker().evaluate(real_machine(target))
    # And the target installs wheels of exactly the tag it was given.
    normalized = tag.replace("-", "_")
    assert any(t.platform == normalized for t in target.tags)


def test_intel_mac_is_x86_64_and_pulls_x86_64_only_dependencies() -> None:
    # The regression: "macosx_13_0_x86_64".rsplit("_") gave platform_machine "64".
    target = Target.from_options(python_version="3.11", platforms=["macosx_13_0_x86_64"])
    # sqlalchemy 2.0's dependency on greenlet, verbatim.
    greenlet = Marker(
        'python_version < "3.14" and (platform_machine == "aarch64" or (platform_machine == '
        '"ppc64le" or (platform_machine == "x86_64" or (platform_machine == "amd64" or '
        '(platform_machine == "AMD64" or (platform_machine == "win32" or platform_machine == '
        '"WIN32"))))))'
    )
    assert target.evaluate(greenlet)
    assert target.environment_marker() == Marker(
        'sys_platform == "darwin" and platform_machine == "x86_64" and '
        'implementation_name == "cpython" and python_full_version == "3.11.0"'
    )


@pytest.mark.parametrize("machine", ["x86_64", "arm64"])
def test_every_tag_a_mac_installs_is_consistent_with_that_mac(machine: str) -> None:
    """packaging's own list of what a Mac of ``machine`` installs: each of those tags, given with
    the Mac's own tag, is one machine, and the environment names that machine."""
    for tag in tags.mac_platforms((14, 0), machine):
        target = Target.from_options(
            python_version="3.12", platforms=[f"macosx_14_0_{machine}", tag]
        )
        assert target.markers["platform_machine"] == machine, tag


def test_the_running_linux_interpreter_agrees() -> None:
    """The portable tags of this very machine give the markers this interpreter reports."""
    if sys.platform != "linux":  # pragma: no cover
        pytest.skip("checks the Linux machine the suite runs on")
    host = default_environment()
    for tag in tags.platform_tags():
        target = Target.from_options(platforms=[tag])
        for key in ("os_name", "sys_platform", "platform_system", "platform_machine"):
            assert target.markers[key] == host[key], (tag, key)  # type: ignore[literal-required]
        assert target.markers["platform_machine"] == platform.machine()
        assert target.markers["python_full_version"] == platform.python_version()


@pytest.mark.parametrize(
    "tag", ["win_ia64", "macosx_13_0_sparc", "plan9_amd64", "any", "macosx_x86_64", "linux"]
)
def test_unknown_platform_tags_are_refused(tag: str) -> None:
    with pytest.raises(InputError, match="unknown --platform"):
        Target.from_options(python_version="3.12", platforms=[tag])


# --- item 5: implementations and their default ABIs ---------------------------------------------


def supports(target: Target, filename: str) -> bool:
    return target.tag_rank(parse_wheel_filename(filename)[3]) is not None


def test_pypy_gets_its_own_abi_and_markers() -> None:
    target = Target.from_options(
        python_version="3.11", implementation="pp", platforms=["manylinux_2_28_x86_64"]
    )
    assert target.tags[0] == Tag("pp311", "pypy311_pp73", "manylinux_2_28_x86_64")
    assert supports(target, "numpy-2.3.0-pp311-pypy311_pp73-manylinux_2_27_x86_64."
                            "manylinux_2_28_x86_64.whl")
    assert supports(target, "websockets-16.0-pp311-pypy311_pp73-manylinux1_x86_64."
                            "manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl")
    assert supports(target, "six-1.17.0-py2.py3-none-any.whl")
    assert not supports(target, "numpy-2.3.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    assert not supports(target, "numpy-2.3.0-pp310-pypy310_pp73-manylinux_2_28_x86_64.whl")
    assert not any(tag.abi.startswith("cp") for tag in target.tags)
    assert target.markers["implementation_name"] == "pypy"
    assert target.markers["platform_python_implementation"] == "PyPy"
    # PyPy's own version: the first PyPy release of Python 3.11 (7.3.18), not 3.11.0.
    assert target.markers["implementation_version"] == "7.3.18"
    assert target.markers["python_full_version"] == "3.11.0"
    assert target.environment_marker().evaluate(real_machine(target))
    assert not target.environment_marker().evaluate(
        real_machine(Target.from_options(python_version="3.11",
                                         platforms=["manylinux_2_28_x86_64"]))
    )


def test_pypy_310_on_the_host_platform() -> None:
    target = Target.from_options(python_version="3.10", implementation="pp")
    assert target.tags[0].interpreter == "pp310"
    assert target.tags[0].abi == "pypy310_pp73"
    assert target.markers["implementation_version"] == "7.3.12"


def test_cpython_default_abis_come_from_the_target_not_the_host() -> None:
    target = Target.from_options(python_version="3.12", platforms=["win_amd64"])
    assert [str(t) for t in target.tags[:3]] == [
        "cp312-cp312-win_amd64", "cp312-abi3-win_amd64", "cp312-none-win_amd64",
    ]
    assert supports(target, "x-1.0-cp38-abi3-win_amd64.whl")
    assert supports(target, "x-1.0-py3-none-any.whl")
    assert not supports(target, "x-1.0-cp311-cp311-win_amd64.whl")
    assert target.markers["implementation_version"] == "3.12.0"
    old = Target.from_options(python_version="3.7", platforms=["manylinux2014_x86_64"])
    assert old.tags[0] == Tag("cp37", "cp37m", "manylinux_2_17_x86_64")


def test_free_threaded_abi_on_request() -> None:
    target = Target.from_options(python_version="3.13", abis=["cp313t"],
                                 platforms=["manylinux_2_28_x86_64"])
    assert target.tags[0] == Tag("cp313", "cp313t", "manylinux_2_28_x86_64")
    assert not supports(target, "x-1.0-cp313-cp313-manylinux_2_28_x86_64.whl")
    assert not supports(target, "x-1.0-cp39-abi3-manylinux_2_28_x86_64.whl")


# --- item 6: the lock claims exactly what was resolved ------------------------------------------


def test_environment_marker_claims_the_full_python_version() -> None:
    target = Target.from_options(python_version="3.11.7", platforms=["manylinux_2_28_x86_64"])
    marker = target.environment_marker()
    assert 'python_full_version == "3.11.7"' in str(marker)
    env = real_machine(target)
    assert marker.evaluate(env)
    assert not marker.evaluate(env | {"python_full_version": "3.11.2"})
    assert not marker.evaluate(env | {"python_full_version": "3.12.0", "python_version": "3.12"})
    bare = Target.from_options(python_version="3.11", platforms=["manylinux_2_28_x86_64"])
    assert 'python_full_version == "3.11.0"' in str(bare.environment_marker())


def test_running_interpreter_selects_its_own_lock() -> None:
    current = Target.current()
    marker = current.environment_marker()
    assert f'python_full_version == "{platform.python_version()}"' in str(marker)
    assert marker.evaluate()  # packaging's default_environment(): this interpreter
    lock = Pylock.from_dict({
        "lock-version": "1.0", "created-by": "test",
        "environments": [str(marker)], "packages": [],
    })
    assert list(lock.select()) == []  # raises PylockSelectError if the environment failed


# --- item 7: one target is one machine ----------------------------------------------------------


@pytest.mark.parametrize(
    "platforms",
    [
        ["manylinux_2_28_x86_64", "win_amd64"],
        ["macosx_11_0_arm64", "manylinux_2_28_aarch64"],
        ["win_amd64", "macosx_14_0_x86_64"],
        ["manylinux_2_28_x86_64", "manylinux_2_28_aarch64"],
        ["musllinux_1_2_x86_64", "musllinux_1_2_armv7l"],
        ["win_amd64", "win32"],
        ["macosx_14_0_arm64", "macosx_10_9_x86_64"],
        ["macosx_10_9_x86_64", "macosx_10_5_ppc"],
    ],
)
def test_platforms_of_different_machines_are_refused(platforms: list[str]) -> None:
    with pytest.raises(InputError, match=r"skimlock lock --universal") as caught:
        Target.from_options(python_version="3.12", platforms=platforms)
    assert "\n" not in str(caught.value)
    assert all(tag in str(caught.value) for tag in platforms)


@pytest.mark.parametrize(
    ("platforms", "machine"),
    [
        (["manylinux_2_28_x86_64", "manylinux2014_x86_64"], "x86_64"),
        (["manylinux_2_28_aarch64", "musllinux_1_2_aarch64", "linux_aarch64"], "aarch64"),
        (["macosx_11_0_arm64", "macosx_10_9_universal2"], "arm64"),
        (["macosx_10_9_universal2", "macosx_11_0_x86_64"], "x86_64"),
        (["macosx_10_9_x86_64", "macosx_10_6_intel"], "x86_64"),
    ],
)
def test_tags_of_one_machine_stay_allowed(platforms: list[str], machine: str) -> None:
    target = Target.from_options(python_version="3.12", platforms=platforms)
    assert target.markers["platform_machine"] == machine
    for tag in platforms:
        assert any(t.platform == tag for t in target.tags)


# --- a target from its facts alone (for a locker composing several) -----------------------------


def test_for_environment_is_complete_and_independent_of_the_host() -> None:
    target = Target.for_environment(
        python_version="3.10.4", implementation="cp", platforms=["win_arm64"]
    )
    assert set(target.markers) == set(default_environment())
    assert target.markers == {
        "os_name": "nt", "sys_platform": "win32", "platform_system": "Windows",
        "platform_machine": "ARM64", "platform_release": "", "platform_version": "",
        "python_version": "3.10", "python_full_version": "3.10.4",
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "implementation_version": "3.10.4",
    }
    assert target.tags[0] == Tag("cp310", "cp310", "win_arm64")
    assert target.tags[-1] == Tag("py30", "none", "any")
    assert not target.is_running
    assert target == Target.from_options(python_version="3.10.4", implementation="cp",
                                         platforms=["win_arm64"])


def test_for_environment_wants_a_platform_and_a_known_implementation() -> None:
    with pytest.raises(InputError, match="platform tag"):
        Target.for_environment(python_version="3.12", implementation="cp", platforms=[])
    with pytest.raises(InputError, match="unsupported implementation"):
        Target.for_environment(python_version="3.12", implementation="gp",
                               platforms=["win_amd64"])


# --- end to end: locks for these targets from a real index on loopback --------------------------

GRAPH = (
    DistSpec(name="sqla", version="1.0",
             requires_dist=('grn; platform_machine == "x86_64" or platform_machine == "AMD64"',)),
    DistSpec(name="grn", version="1.0"),
    DistSpec(name="rds", version="1.0",
             requires_dist=('atimeout; python_full_version < "3.11.3"',)),
    DistSpec(name="atimeout", version="1.0"),
    DistSpec(name="ext", version="1.0", tag="cp311-cp311-manylinux_2_17_x86_64"),
    DistSpec(name="ext", version="1.0", tag="pp311-pypy311_pp73-manylinux_2_17_x86_64"),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_graph(tmp_path_factory.mktemp("target-graph"), GRAPH) as running:
        yield running


pytestmark = pytest.mark.usefixtures("cli_isolated")


def lock(server: Server, *args: str) -> tuple[int, dict[str, object]]:
    code = main(["lock", "-q", "-i", server.simple_url, "-o", "pylock.toml", *args])
    path = Path("pylock.toml")
    return code, tomllib.loads(path.read_text()) if code == 0 else {}


def names(data: dict[str, object]) -> set[str]:
    packages = data["packages"]
    assert isinstance(packages, list)
    return {package["name"] for package in packages}


def test_lock_for_an_intel_mac_keeps_x86_64_dependencies(server: Server) -> None:
    code, data = lock(server, "sqla", "--python-version", "3.11",
                      "--platform", "macosx_13_0_x86_64")
    assert code == 0
    assert names(data) == {"sqla", "grn"}
    assert data["environments"] == [
        'sys_platform == "darwin" and platform_machine == "x86_64" and '
        'implementation_name == "cpython" and python_version == "3.11"'
    ]


def test_lock_for_pypy_uses_pypy_wheels(server: Server) -> None:
    code, data = lock(server, "ext", "--implementation", "pp", "--python-version", "3.11",
                      "--platform", "manylinux_2_28_x86_64")
    assert code == 0
    packages = data["packages"]
    assert isinstance(packages, list)
    (ext,) = packages
    assert [w["name"] for w in ext["wheels"]] == [
        "ext-1.0-pp311-pypy311_pp73-manylinux_2_17_x86_64.whl"
    ]
    lock_ = Pylock.from_dict(data)
    target = Target.from_options(python_version="3.11", implementation="pp",
                                 platforms=["manylinux_2_28_x86_64"])
    chosen = [dist.name for _, dist in lock_.select(environment=real_machine(target),  # type: ignore[arg-type]
                                                    tags=target.tags)]
    assert chosen == ["ext-1.0-pp311-pypy311_pp73-manylinux_2_17_x86_64.whl"]


def test_lock_claims_only_the_patch_release_it_was_resolved_for(server: Server) -> None:
    linux = ("--platform", "manylinux_2_28_x86_64")
    code, late = lock(server, "rds", "--python-version", "3.11.7", *linux)
    assert code == 0
    assert names(late) == {"rds"}
    code, early = lock(server, "rds", "--python-version", "3.11.2", *linux)
    assert code == 0
    assert names(early) == {"rds", "atimeout"}
    on_3_11_2 = real_machine(Target.from_options(python_version="3.11.2", platforms=linux[1:]))
    on_3_11_7 = real_machine(Target.from_options(python_version="3.11.7", platforms=linux[1:]))
    late_marker, early_marker = (Marker(d["environments"][0]) for d in (late, early))  # type: ignore[index]
    # The 3.11.7 lock (no atimeout) does not claim 3.11.2, which needs atimeout; and back.
    assert late_marker.evaluate(on_3_11_7)
    assert not late_marker.evaluate(on_3_11_2)
    assert early_marker.evaluate(on_3_11_2)
    assert not early_marker.evaluate(on_3_11_7)
    # ...and each claims the whole run of patch releases over which its markers agree.
    assert str(late_marker).endswith(
        'python_full_version >= "3.11.3" and python_version == "3.11"')
    assert str(early_marker).endswith('python_full_version < "3.11.3"')
    assert late["requires-python"] == "<3.12,==3.11.*,>=3.11.3" or set(
        str(late["requires-python"]).split(",")) == {"==3.11.*", ">=3.11.3"}


def test_lock_refuses_platforms_of_two_machines(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = lock(server, "sqla", "--platform", "manylinux_2_28_x86_64",
                   "--platform", "win_amd64")
    assert code == 2
    err = capsys.readouterr().err
    assert "skimlock lock --universal" in err
    assert "Traceback" not in err
    assert not Path("pylock.toml").exists()
