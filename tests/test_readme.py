"""README's generated tables are current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "readme_tables", ROOT / "scripts" / "readme_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_are_current():
    generator = load_generator()
    assert generator.current_readme() == (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README.md is stale: run `python scripts/readme_tables.py`"
    )


def test_readme_opens_with_its_title_and_one_sentence():
    title, sentence, rest = (ROOT / "README.md").read_text(encoding="utf-8").split("\n\n", 2)
    assert title == "# tap-pipedrive"
    assert "\n" not in sentence
    assert sentence.endswith(".")
    assert sentence.count(". ") == 0
    assert rest.startswith("```sh\nmake demo")


def test_readme_opens_with_the_demo_and_test_commands():
    opening = (ROOT / "README.md").read_text(encoding="utf-8").split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in opening.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]
