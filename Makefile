# Two entry points: `make demo` (the tap against the local emulator, into target-jsonl) and
# `make test` (the whole suite). Both install what they need into local virtualenvs first.
PYTHON ?= python3
VENV := .venv
# Singer targets live in their own virtualenvs, as Meltano keeps them: their pins clash with ours.
TARGET_JSONL := .venv-targets/target-jsonl/bin/target-jsonl
TARGET_POSTGRES := .venv-targets/target-postgres/bin/target-postgres
TARGET_POSTGRES_VERSION := 0.8.1
# Meltano in a virtualenv of its own; `meltano install` puts meltano.yml's plugins (the tap, from
# this directory, target-jsonl and target-postgres) in virtualenvs under .meltano/.
# tests/test_meltano.py and tests/test_postgres.py run them.
MELTANO_VERSION := 4.4.1
MELTANO := .venv-meltano/bin/meltano
MELTANO_PLUGINS := .meltano/.plugins-installed
MELTANO_OFFLINE := MELTANO_SEND_ANONYMOUS_USAGE_STATS=false MELTANO_DISABLE_TRACKING=true
# `make test` runs pytest on two workers (CI's two cores; `make test TEST_WORKERS=auto` for one a
# core), in random order (pytest-randomly: the header says `Using --randomly-seed=N`). loadfile
# runs each test file on one worker, its tests one after the other: a module-scoped fixture (a
# sync, a PostgreSQL server) is built once, and no other file's test runs in its midst.
# Files go out in collection order (--no-loadscope-reorder, not most tests first): the longest
# first (tests/conftest.py, LONGEST_FILES), so that the two workers end together.
TEST_WORKERS ?= 2

.PHONY: demo test install lint meltano target-postgres postgres mutation

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(TARGET_JSONL):
	$(PYTHON) -m venv .venv-targets/target-jsonl
	.venv-targets/target-jsonl/bin/pip install --quiet --disable-pip-version-check target-jsonl==0.1.4

$(TARGET_POSTGRES):
	$(PYTHON) -m venv .venv-targets/target-postgres
	.venv-targets/target-postgres/bin/pip install --quiet --disable-pip-version-check \
		meltanolabs-target-postgres==$(TARGET_POSTGRES_VERSION)

target-postgres: $(TARGET_POSTGRES)

$(MELTANO):
	$(PYTHON) -m venv .venv-meltano
	.venv-meltano/bin/pip install --quiet --disable-pip-version-check meltano==$(MELTANO_VERSION)

# Through uv (Meltano's default backend, pinned): tests/test_meltano.py runs README's
# `meltano install` in a fresh clone offline, from the uv cache this install fills.
$(MELTANO_PLUGINS): $(MELTANO) meltano.yml pyproject.toml
	$(MELTANO_OFFLINE) MELTANO_VENV_BACKEND=uv $(MELTANO) --log-level=warning install
	touch $@

meltano: $(MELTANO_PLUGINS)

# PostgreSQL server binaries for tests/test_postgres.py, which starts its own throwaway server.
# Missing ones are installed from Debian as root (without creating or starting a system cluster);
# elsewhere the test is skipped with its reason, except in CI (CI=true), where this fails.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing PostgreSQL with apt-get"; \
		export DEBIAN_FRONTEND=noninteractive; \
		if apt-get update -qq && \
			apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null && \
			sed -ri 's/^#?\s*create_main_cluster\b.*/create_main_cluster = false/' \
				/etc/postgresql-common/createcluster.conf && \
			apt-get install -y -qq --no-install-recommends postgresql >/dev/null; then \
			:; \
		elif [ "$$CI" = true ]; then \
			echo "apt-get could not install PostgreSQL" >&2; exit 1; \
		else \
			echo "apt-get could not install PostgreSQL: tests/test_postgres.py will be skipped" >&2; \
		fi; \
	elif [ "$$CI" = true ]; then \
		echo "PostgreSQL is missing and cannot be installed here (needs root and apt-get)" >&2; \
		exit 1; \
	else \
		echo "No PostgreSQL server binaries: tests/test_postgres.py will be skipped" >&2; \
	fi

demo: install $(TARGET_JSONL)
	$(VENV)/bin/python scripts/demo.py

test: install $(TARGET_JSONL) $(TARGET_POSTGRES) meltano postgres
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Mutation testing of the pure modules ([tool.mutmut] in pyproject.toml), module by module with
# one worker, printing each module's score. Not part of `make test` nor CI: it takes minutes.
mutation: install
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test,mutation]'
	$(VENV)/bin/python scripts/mutation.py

lint: install
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy
