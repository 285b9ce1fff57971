"""meltano.yml end to end: `meltano run tap-pipedrive target-jsonl` twice, state kept by Meltano.

Meltano and the project's plugins are installed by `make test` (`make meltano`: `.venv-meltano/`,
then `meltano install`, which puts the plugins' virtualenvs under `.meltano/`). The test runs a
copy of meltano.yml in a temporary project that links those virtualenvs, so Meltano's system
database, run files, logs and the loader's output all stay out of the repository; the tap is
pointed at a local emulator through `TAP_PIPEDRIVE_*` environment variables.
"""

from __future__ import annotations

import datetime
import json
import re
import shlex
import shutil
import subprocess
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.conftest import TOKEN, a_moment_ago
from tests.emulator import Emulator
from tests.emulator.per_parent import organization_followers
from tests.meltano_project import (
    MELTANO,
    ROOT,
    installed,
    meltano,
    meltano_env,
    meltano_project,
    outside_env,
)
from tests.test_custom_streams import FOLLOWERS

pytestmark = pytest.mark.slow

PLUGINS = ("extractors/tap-pipedrive", "loaders/target-jsonl")
STATE_ID = "dev:tap-pipedrive-to-target-jsonl"
STREAMS = ("persons", "organizations")
UTC = datetime.timezone.utc


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Meltano project: meltano.yml, and `.meltano/` with links to the installed plugins."""
    return meltano_project(tmp_path, *PLUGINS)


class Meltano:
    """Runs `meltano` in one project, against one emulator, into one output directory."""

    def __init__(self, project: Path, url: str, output: Path) -> None:
        self.project = project
        self.output = output
        self.env = meltano_env(
            project,
            MELTANO_CLI_LOG_LEVEL="info",
            TAP_PIPEDRIVE_API_URL=url,
            TAP_PIPEDRIVE_API_TOKEN=TOKEN,
            TAP_PIPEDRIVE__SELECT=json.dumps([f"{stream}.*" for stream in STREAMS]),
            TARGET_JSONL_DESTINATION_PATH=str(output),
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return meltano(self.project, self.env, *args)

    def run(self) -> dict[str, list[dict[str, t.Any]]]:
        """`meltano run tap-pipedrive target-jsonl` into an empty output; records per stream."""
        shutil.rmtree(self.output, ignore_errors=True)
        self.output.mkdir()
        self("run", "tap-pipedrive", "target-jsonl")
        return {
            path.stem: [json.loads(line) for line in path.read_text().splitlines() if line]
            for path in sorted(self.output.glob("*.jsonl"))
        }

    def bookmarks(self) -> dict[str, t.Any]:
        """The Singer bookmarks `meltano state get` shows."""
        return json.loads(self("state", "get", STATE_ID).stdout)["singer_state"]["bookmarks"]


def moment(value: str) -> datetime.datetime:
    """Parse the tap's RFC 3339 timestamps."""
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def ids(records: list[dict[str, t.Any]]) -> set[int]:
    return {record["id"] for record in records}


def test_meltano_yml_needs_nothing_from_the_hub():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = [p for kind in project["plugins"].values() for p in kind]
    assert all("variant" not in p and "inherit_from" not in p and p.get("pip_url") for p in plugins)
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-pipedrive")
    assert extractor["pip_url"] == "-e ."


def test_the_installed_extractor_is_this_checkout():
    (extractor,) = installed(PLUGINS[0])
    site = next((ROOT / extractor / "venv" / "lib").glob("python3*/site-packages"))
    direct_url = json.loads(
        next(site.glob("tap_pipedrive-*.dist-info/direct_url.json")).read_text()
    )
    assert direct_url["dir_info"] == {"editable": True}
    assert Path(direct_url["url"].removeprefix("file://")).resolve() == ROOT


def test_meltano_run_twice_keeps_the_state(project, tmp_path):
    extractor = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["extractors"][0]
    start_date = extractor.get("config", {}).get("start_date")
    since = {"updated_since": moment(start_date)} if start_date else {}
    with Emulator(seed=5, scale=300, api_token=TOKEN) as emu:
        meltano = Meltano(project, emu.url, tmp_path / "output")

        # Run 1: everything updated since meltano.yml's start_date (if any), nothing else.
        first = meltano.run()
        assert set(first) == set(STREAMS)
        for stream in STREAMS:
            assert len(first[stream]) == len(ids(first[stream]))
            assert ids(first[stream]) == emu.ids(stream, **since)
        bookmarks = meltano.bookmarks()
        assert set(bookmarks) == set(STREAMS)
        newest = {
            s: max(first[s], key=lambda r: moment(r["update_time"]))["update_time"] for s in STREAMS
        }
        for stream in STREAMS:
            assert bookmarks[stream]["replication_key"] == "update_time"
            assert moment(bookmarks[stream]["replication_key_value"]) == moment(newest[stream])

        # Some persons change (a few seconds ago, so before run 2 starts), older ones included.
        when = a_moment_ago()
        touched = set(sorted(emu.ids("persons"))[::15])
        assert touched - ids(first["persons"]) or not start_date  # some from before start_date
        emu.touch("persons", touched, when=when)

        # Run 2: those, plus the records that share the previous bookmark's second.
        second = meltano.run()
        boundary = {
            s: {r["id"] for r in first[s] if moment(r["update_time"]) == moment(newest[s])}
            for s in STREAMS
        }
        assert ids(second["persons"]) == touched | (boundary["persons"] - touched)
        assert ids(second.get("organizations", [])) == boundary["organizations"]
        assert all(
            moment(r["update_time"]) == when for r in second["persons"] if r["id"] in touched
        )

        bookmarks = meltano.bookmarks()
        assert moment(bookmarks["persons"]["replication_key_value"]) == when
        assert moment(bookmarks["organizations"]["replication_key_value"]) == moment(
            newest["organizations"]
        )


def readme_meltano_commands() -> list[list[str]]:
    """The `meltano` command lines of README.md's "With Meltano" section, split as a shell would."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### With Meltano", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [
        shlex.split(line, comments=True)
        for block in blocks
        for line in block.splitlines()
        if line.startswith("meltano ")
    ]


def test_the_readmes_meltano_commands_run_as_written(tmp_path):
    installed()
    commands = readme_meltano_commands()
    assert [c[:2] for c in commands] == [
        ["meltano", "install"],
        ["meltano", "config"],
        ["meltano", "select"],
        ["meltano", "run"],
        ["meltano", "state"],
    ]
    # A clone of the project: what `pip_url: -e .` installs from.
    project = tmp_path / "tap-pipedrive"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "meltano.yml"):
        shutil.copy(ROOT / name, project / name)
    for package in ("pipedrive_api", "tap_pipedrive", "target_pipedrive"):  # the wheel's
        shutil.copytree(
            ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    env = outside_env()
    with Emulator(seed=5, scale=30, api_token=TOKEN) as emu:
        # Only the API root comes from outside the README: the emulator's instead of Pipedrive's.
        env |= {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "TAP_PIPEDRIVE_API_URL": emu.url}
        outputs = []
        for command in commands:
            args = [str(MELTANO), *(TOKEN if arg == "<token>" else arg for arg in command[1:])]
            result = subprocess.run(
                args, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
            )
            assert result.returncode == 0, f"{command}:\n{result.stderr[-6000:]}"
            outputs.append(result.stdout)
    assert f"TAP_PIPEDRIVE_API_TOKEN='{TOKEN}'" in (project / ".env").read_text()
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    written = {path.stem for path in (project / "output").glob("*.jsonl")}
    assert {"deals", "persons", "organizations"} <= written
    assert not written & {"call_logs", "deleted_records"}  # the README's exclusion, the default
    bookmarks = json.loads(outputs[-1])["singer_state"]["bookmarks"]
    assert "persons" in bookmarks
    assert "deleted_records" not in bookmarks


def test_a_meltano_selection_of_nothing_warns_once_and_syncs_nothing(project, tmp_path):
    with Emulator(seed=5, scale=30, api_token=TOKEN) as emu:
        meltano = Meltano(project, emu.url, tmp_path / "output")
        meltano.env["TAP_PIPEDRIVE__SELECT"] = json.dumps(["no_such_stream.*"])
        result = meltano("invoke", "tap-pipedrive")
        paths = {entry.path for entry in emu.requests}
    warning = "The catalog selects no stream: nothing to read."
    assert len([line for line in result.stderr.splitlines() if warning in line]) == 1
    assert result.stdout.strip() == ""
    # Meltano's discovery reads the field definitions; the sync reads nothing.
    assert paths
    assert all(path.endswith("Fields") for path in paths), paths


def test_meltano_selects_a_custom_stream(project, tmp_path):
    with Emulator(seed=5, scale=30, api_token=TOKEN) as emu:
        meltano = Meltano(project, emu.url, tmp_path / "output")
        meltano.env["TAP_PIPEDRIVE_CUSTOM_STREAMS"] = json.dumps([FOLLOWERS])
        meltano.env["TAP_PIPEDRIVE__SELECT"] = json.dumps(["organization_followers.*"])
        written = meltano.run()
        expected = {
            row["id"]
            for org in emu.all_ids("organizations")
            for row in organization_followers(emu.data, org)
        }
    assert set(written) == {"organization_followers"}
    assert ids(written["organization_followers"]) == expected
