"""A throwaway Meltano project around the repository's meltano.yml, and `meltano` run in it.

Meltano and the plugins are installed by `make test` (`make meltano`: `.venv-meltano/`, then
`meltano install`, which puts the plugins' virtualenvs under `.meltano/`). A test's project is a
copy of meltano.yml in a temporary directory, linking those virtualenvs, so Meltano's system
database, run files and logs stay out of the repository; the plugins' settings come from
environment variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[1]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"


def installed(*plugins: str) -> list[Path]:
    """The `.meltano/` directories of these plugins (`extractors/tap-pipedrive`), installed.

    Skipped (failed in CI) when `make meltano` has not installed Meltano or one of them.
    """
    dirs = [Path(".meltano", plugin) for plugin in plugins]
    missing = [str(p) for p in (MELTANO, *(ROOT / d / "venv" for d in dirs)) if not p.exists()]
    if missing:
        unavailable(f"Meltano or its plugins are not installed (run `make meltano`): {missing}")
    return dirs


def meltano_project(tmp_path: Path, *plugins: str) -> Path:
    """A project in `tmp_path/project` that links these installed plugins."""
    root = tmp_path / "project"
    for kind in ("extractors", "loaders"):
        (root / ".meltano" / kind).mkdir(parents=True)
    shutil.copy(ROOT / "meltano.yml", root / "meltano.yml")
    for plugin in installed(*plugins):
        (root / plugin).symlink_to(ROOT / plugin, target_is_directory=True)
    return root


#: The Singer SDK warns, from some months before this Python's end of life, that it nears or
#: passed it: one more stderr line decided by today's date and the machine's Python, not by
#: the commands under test (pyproject.toml shows it, not raises it, in this process).
_PYTHON = f"Python {sys.version_info[0]}.{sys.version_info[1]}"
SDK_EOL_NOTICE = ",".join(
    f"ignore:{_PYTHON} {phrase} its end of life" for phrase in ("will reach", "reached")
)


def outside_env() -> dict[str, str]:
    """This process's environment without Meltano's or any plugin's variables, and without
    the SDK's Python end-of-life notice (`SDK_EOL_NOTICE`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MELTANO_", "TAP_", "TARGET_")) and k != "VIRTUAL_ENV"
    }
    warnings = [env["PYTHONWARNINGS"]] if env.get("PYTHONWARNINGS") else []
    return env | {"PYTHONWARNINGS": ",".join([*warnings, SDK_EOL_NOTICE])}


def meltano_env(project: Path, **settings: str) -> dict[str, str]:
    """`outside_env()` with the project's Meltano settings and these (the plugins' settings).

    Meltano never installs anything here: a missing plugin is an error, not a download.
    """
    return outside_env() | {
        "MELTANO_PROJECT_ROOT": str(project),
        "MELTANO_DATABASE_URI": f"sqlite:///{project.parent / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DISABLE_TRACKING": "true",
        "MELTANO_AUTO_INSTALL": "false",
        **settings,
    }


def meltano(
    project: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `meltano <args>` in the project; fail the test with its output unless it exits 0."""
    result = subprocess.run(
        [str(MELTANO), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"meltano {' '.join(args)} exited {result.returncode}:\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    )
    return result
