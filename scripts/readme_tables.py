"""README's generated tables: settings (tap and target, from `--about`) and streams.

`python scripts/readme_tables.py` rewrites them in README.md between their markers; a test
checks that README.md is current.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tap_pipedrive.streams import STREAM_TYPES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def settings_table(module: str = "tap_pipedrive.tap") -> str:
    """The settings table of `tap-pipedrive` (or another command) `--about --format=markdown`."""
    about = subprocess.run(
        [sys.executable, "-m", module, "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    lines = about.split("## Settings", 1)[1].strip().splitlines()
    table = [line for line in lines if line.startswith("|")]
    return "\n".join(table)


def streams_table() -> str:
    """One row per stream: endpoint, key, replication."""
    rows = [
        "| stream | endpoint | key | replication | tokens a call |",
        "|:--|:--|:--|:--|--:|",
    ]
    for stream in STREAM_TYPES:
        parent = getattr(stream, "parent_stream_type", None)
        path = getattr(stream, "path", None)
        endpoint = f"`{path}`" if path else f"none: `{parent.name}`'s calls"
        if stream.archived_token_cost is not None:
            endpoint += f" and `{stream.path}/archived`"
        key = ", ".join(f"`{k}`" for k in stream.primary_keys)
        replication_key = (
            stream.replication_key if isinstance(stream.replication_key, str) else None
        )
        if parent is not None and not isinstance(parent.replication_key, str):
            replication = f"full table, a call per `{parent.name}` row"
        elif parent is not None:
            root = parent
            while getattr(root, "parent_stream_type", None) is not None:
                root = root.parent_stream_type
            replication = f"{root.name} updated since its watermark"
            if replication_key:
                replication += f" (bookmark `{replication_key}`)"
        elif replication_key:
            replication = f"incremental on `{replication_key}`"
        else:
            replication = "full table"
        cost = str(stream.token_cost)
        if stream.archived_token_cost is not None:
            cost += f" / {stream.archived_token_cost}"
        if parent is not None and "{" in (path or ""):  # one call per item: each item's cost
            item = parent.name.removesuffix("s").replace("_", " ")
            cost += f" {'an' if item[0] in 'aeiou' else 'a'} {item}"
        name = f"`{stream.name}`"
        if not stream.selected_by_default:
            name += " (off by default)"
        rows.append(f"| {name} | {endpoint} | {key} | {replication} | {cost} |")
    return "\n".join(rows)


def render(text: str, name: str, table: str) -> str:
    """Replace the block between `<!-- name -->` and `<!-- /name -->`."""
    pattern = re.compile(rf"(<!-- {name} -->\n)(?:.*?\n)?(<!-- /{name} -->)", re.DOTALL)
    if not pattern.search(text):
        msg = f"README.md has no <!-- {name} --> block"
        raise SystemExit(msg)
    return pattern.sub(lambda m: f"{m.group(1)}{table}\n{m.group(2)}", text)


def current_readme() -> str:
    """README.md with both tables regenerated."""
    text = README.read_text(encoding="utf-8")
    text = render(text, "settings", settings_table())
    text = render(text, "target-settings", settings_table("target_pipedrive.target"))
    return render(text, "streams", streams_table())


if __name__ == "__main__":
    README.write_text(current_readme(), encoding="utf-8")
