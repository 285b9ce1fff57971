# Two entry points: `make demo` (the tap against the local emulator, into target-jsonl) and
# `make test` (the whole suite). Both install what they need into local virtualenvs first.
PYTHON ?= python3
VENV := .venv
# Singer targets live in their own virtualenvs, as Meltano keeps them: their pins clash with ours.
TARGET_JSONL := .venv-targets/target-jsonl/bin/target-jsonl

.PHONY: demo test install lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(TARGET_JSONL):
	$(PYTHON) -m venv .venv-targets/target-jsonl
	.venv-targets/target-jsonl/bin/pip install --quiet --disable-pip-version-check target-jsonl==0.1.4

demo: install $(TARGET_JSONL)
	$(VENV)/bin/python scripts/demo.py

test: install $(TARGET_JSONL)
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy
