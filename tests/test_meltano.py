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

from tests.conftest import TOKEN, a_moment_ago, unavailable
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
        when = a_moment_ago(emu)
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


def fresh_clone(destination: Path) -> Path:
    """The repository's tracked files (`git ls-files`) copied into `destination`, as a clone has
    them: every package the wheel builds comes along, whatever pyproject.toml lists."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode:
        unavailable(f"`git ls-files` failed: {listed.stderr.decode()[-500:]}")
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():  # a tracked file deleted in the work tree is not copied
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


#: The streams README's commands write: meltano.yml's selection (every stream but
#: deleted_records, person_changes, organization_changes and deal_mail_messages) without the
#: README's `--exclude call_logs`, each of which has records in the emulator's account.
README_STREAMS = {
    "deals", "deal_products", "deal_installments", "dealflow", "deal_participants",
    "deal_discounts", "deal_stage_history", "persons", "organizations", "activities", "products",
    "product_variations", "notes", "leads", "files", "pipelines", "stages", "projects", "tasks",
    "boards", "phases", "users", "roles", "role_assignments", "permission_sets",
    "permission_set_assignments", "currency", "activity_types", "filters", "lead_labels",
    "lead_sources", "goals", "deal_fields", "person_fields", "organization_fields",
    "product_fields", "activity_fields", "project_fields", "note_fields", "lead_fields",
}  # fmt: skip
#: Those read incrementally (README's stream table), and the key of their bookmarks.
README_BOOKMARKS = {
    "deals": "update_time", "persons": "update_time", "organizations": "update_time",
    "activities": "update_time", "products": "update_time", "notes": "update_time",
    "leads": "update_time",
    "deal_products": "update_time",  # the newest item's, beside the deals' watermark
    "dealflow": "log_time",
}  # fmt: skip


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
    project = fresh_clone(tmp_path / "tap-pipedrive")
    # `meltano install` installs through uv (Meltano's default backend), offline: every package
    # comes from uv's cache, which `make test`'s own `meltano install` filled. Nothing is fetched
    # from the package index during the tests; a package missing from the cache fails the test.
    env = outside_env() | {"MELTANO_VENV_BACKEND": "uv", "UV_OFFLINE": "1"}
    with Emulator(seed=5, scale=30, api_token=TOKEN) as emu:
        # Only the API root comes from outside the README: the emulator's instead of Pipedrive's.
        env |= {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "TAP_PIPEDRIVE_API_URL": emu.url}
        outputs = []
        for command in commands:
            args = [str(MELTANO), *(TOKEN if arg == "<token>" else arg for arg in command[1:])]
            result = subprocess.run(
                args, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
            )
            hint = (
                " (offline, from the uv cache `make meltano` fills)"
                if command[1] == "install"
                else ""
            )
            assert result.returncode == 0, f"{command}{hint}:\n{result.stderr[-6000:]}"
            outputs.append(result.stdout)
        # The clone's install also gives a working target-pipedrive (`pip_url: -e .`).
        about = subprocess.run(
            [str(MELTANO), "invoke", "target-pipedrive", "--about", "--format=json"],
            cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    assert about.returncode == 0, about.stderr[-4000:]
    assert json.loads(about.stdout)["name"] == "target-pipedrive"
    assert f"TAP_PIPEDRIVE_API_TOKEN='{TOKEN}'" in (project / ".env").read_text()
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert {path.stem for path in (project / "output").glob("*.jsonl")} == README_STREAMS
    bookmarks = json.loads(outputs[-1])["singer_state"]["bookmarks"]
    # Meltano's state holds an entry for every stream read, and a bookmark for those read
    # incrementally (at the top, or per partition: live and archived deals and leads).
    assert set(bookmarks) == README_STREAMS
    assert {
        stream: {
            entry["replication_key"]
            for entry in (bookmark, *bookmark.get("partitions", ()))
            if "replication_key_value" in entry
        }
        for stream, bookmark in bookmarks.items()
    } == {s: {README_BOOKMARKS[s]} if s in README_BOOKMARKS else set() for s in README_STREAMS}


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
