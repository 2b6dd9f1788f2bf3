# Developer and CI entry points. Everything runs inside .venv, created on first use.
#
#   make run       migrate, load demo data, serve on http://127.0.0.1:8000/ (HOST=..., PORT=... to change)
#   make test      the test suite (PYTEST_ARGS="-k visits -x" to narrow it)
#   make lint      ruff
#   make bench     every bench/*.py script (names starting with _ are helpers and are skipped)
#   make messages  refresh the zh_Hans and en catalogues and compile them (needs GNU gettext)
#   make clean     caches and CI reports (keeps .venv and var/, which holds the local database and key)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: pip runs again only when pyproject.toml is newer than this.
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
LOCALES := zh_Hans en
# Lint what exists: bench/ may not be there yet.
LINT_PATHS := $(wildcard src tests bench)

.PHONY: install run test lint bench messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ihospital serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)

bench: $(STAMP)
	@set -e; for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		case "$$(basename "$$script")" in _*) continue ;; esac; \
		echo "== $$script"; \
		$(BIN)/python "$$script"; \
	done

# The compiled .mo files are committed next to the .po files: a fresh machine may lack GNU gettext, and the
# platform must still speak both languages there. Run this after changing translatable strings, then commit
# both. It runs from src/ihospital so that only the package is scanned (not .venv, tests or bench).
messages: $(STAMP)
	@command -v msgfmt >/dev/null || { echo "GNU gettext is needed: apt-get install gettext" >&2; exit 1; }
	mkdir -p src/ihospital/locale
	cd src/ihospital && ../../$(BIN)/python ../../manage.py makemessages $(addprefix -l ,$(LOCALES)) \
		--no-obsolete --add-location file
	cd src/ihospital && ../../$(BIN)/python ../../manage.py compilemessages $(addprefix -l ,$(LOCALES))

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis var/ci
	find src tests $(wildcard bench) -name __pycache__ -type d -prune -exec rm -rf {} +
