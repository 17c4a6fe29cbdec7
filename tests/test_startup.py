"""Start-up: a run imports only what it needs (issue 11 item 3).

Each case is a fresh interpreter (a subprocess): the test process itself has imported everything
long ago. The subprocess records which modules the run added to :data:`sys.modules`; the times
are measured by ``benchmarks/bench_startup.py``, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index import DistSet

SRC = Path(__file__).resolve().parent.parent / "src"

#: Run in the subprocess: import skimlock.cli, maybe run main(argv), list what was imported.
PROBE = """\
import json, sys
before = set(sys.modules)
from skimlock import cli
argv = json.loads(sys.argv[1])
code = cli.main(argv) if argv else 0
with open(sys.argv[2], "w") as out:
    json.dump({"code": code, "modules": sorted(set(sys.modules) - before)}, out)
"""

#: Never imported by ``import skimlock.cli`` or ``--version``.
HEAVY = ("httpx", "h2", "rich", "click", "pygments", "resolvelib", "packaging", "tomli_w",
         "importlib.metadata", "email", "zipfile", "logging")


def imported(argv: list[str], tmp_path: Path) -> set[str]:
    """Top-level names and dotted names of the modules a fresh run of ``argv`` imported."""
    result = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get(
        "PYTHONPATH", "")]), "NO_COLOR": "1"}
    env.pop("SKIMLOCK_INDEX_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), str(result)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(result.read_text())
    assert data["code"] == 0, done.stderr
    modules = set(data["modules"])
    return modules | {name.partition(".")[0] for name in modules}


def test_import_cli_and_version_import_nothing_heavy(tmp_path: Path) -> None:
    for argv in ([], ["--version"]):
        found = imported(argv, tmp_path)
        assert "skimlock.cli" in found
        assert not found & set(HEAVY), (argv, sorted(found & set(HEAVY)))


@pytest.mark.parametrize(
    ("command", "needed", "not_needed"),
    [
        (["metadata", "tiny"], {"httpx"},
         {"resolvelib", "packaging.pylock", "tomli_w", "importlib.metadata"}),
        (["lock", "tiny", "--format", "requirements", "-o", "{out}/requirements.txt"],
         {"httpx", "resolvelib"}, {"packaging.pylock", "tomli_w", "importlib.metadata"}),
        (["lock", "tiny", "-o", "{out}/pylock.toml"],
         {"httpx", "resolvelib", "packaging.pylock", "tomli_w"}, {"importlib.metadata"}),
        (["resolve", "tiny", "--ignore-installed"],
         {"httpx", "resolvelib"}, {"packaging.pylock", "tomli_w", "importlib.metadata"}),
    ],
    ids=["metadata", "lock-requirements", "lock-pylock", "resolve"],
)
def test_each_command_imports_what_it_uses(
    dist_set: DistSet, tmp_path: Path, command: list[str], needed: set[str],
    not_needed: set[str],
) -> None:
    # stderr is not a terminal here: rich is never needed; httpx's own CLI (click, pygments,
    # rich) is never imported with it.
    argv = [part.format(out=tmp_path) for part in command]
    found = imported([*argv, "-q", "--index-url", str(dist_set.directory)], tmp_path)
    assert needed <= found, sorted(needed - found)
    unwanted = not_needed | {"rich", "click", "pygments"}
    assert not found & unwanted, sorted(found & unwanted)


def test_httpx_without_its_cli_keeps_httpx_main_importable(tmp_path: Path) -> None:
    pytest.importorskip("click")  # without click, httpx never imports its CLI anyway
    code = (
        "import sys; from skimlock import cli; cli._import_httpx(); "
        "assert 'httpx' in sys.modules and 'click' not in sys.modules; "
        "assert 'httpx._main' not in sys.modules; import httpx._main; print('ok')"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.stdout.strip() == "ok", done.stderr


def test_every_name_a_cli_function_uses_exists_at_run_time() -> None:
    """cli.py imports most names inside functions and others only for type checking: a function
    that uses a name imported only under TYPE_CHECKING would fail at run time, which ruff does
    not see. Walk every function's bytecode for globals the module does not define."""
    import builtins
    import dis
    import inspect
    import types

    from skimlock import cli

    defined = set(vars(cli)) | set(dir(builtins))
    missing: set[tuple[str, str]] = set()

    def walk(code: types.CodeType, where: str) -> None:
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and \
                    instruction.argval not in defined:
                missing.add((where, str(instruction.argval)))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                walk(const, f"{where}.{const.co_name}")

    for name, obj in vars(cli).items():
        functions = [obj] if inspect.isfunction(obj) else (
            [v for v in vars(obj).values() if inspect.isfunction(v)]
            if inspect.isclass(obj) else []
        )
        for function in map(inspect.unwrap, functions):
            if function.__module__ == cli.__name__:
                walk(function.__code__, f"{name}.{function.__name__}")
    assert not missing
