# The two commands a newcomer needs: `make local` runs the service, `make test` tests it.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Named for the Python it was made with, so a .venv left by an older Python is rebuilt.
INSTALLED := $(VENV)/.installed-py313
STAGE ?= dev

# Lambda's python3.13 runtime. chalice package/deploy target the Python that runs chalice, so
# .venv must be 3.13: a plain python3.13 that runs, else pyenv's newest 3.13 (its shim on PATH
# answers only when pyenv selects that version). PYTHON=/path/to/python3.13 overrides both.
IS_PY313 = is_py313() { "$$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; }; is_py313
define find_python313
for candidate in "$$(command -v python3.13)" \
	"$$(pyenv prefix "$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | sort -V | tail -n 1)" 2>/dev/null)/bin/python3.13" \
	$$(ls -d "$${PYENV_ROOT:-$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)}"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V -r); do \
	$(IS_PY313) "$$candidate" && { echo "$$candidate"; break; }; \
done
endef
PYTHON ?= $(shell $(find_python313))

.PHONY: test lint format package package-stack deploy delete clean local browser bench reliability which-python

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(IS_PY313) $(BIN)/python 2>/dev/null || { rm -rf $(VENV) && $(IS_PY313) "$(PYTHON)" && "$(PYTHON)" -m venv $(VENV); } || \
		{ echo "make: Python 3.13 not found (PYTHON='$(PYTHON)'). Install Python 3.13 (Debian 13: apt-get install" \
		"python3.13 python3.13-venv; elsewhere: pyenv install 3.13), or name it: make PYTHON=/path/to/python3.13" >&2; exit 1; }
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Two workers, one per core, each taking whole files (so a file's fixtures are built once): most tests
# wait on moto, the local stack or Chromium, so two at a time take about 60% of the time one does.
test: $(INSTALLED) browser lint
	$(BIN)/pytest -n 2 --dist loadfile

# The whole service on moto's AWS emulator, in the foreground (PORT, AWS_PORT: see local_stack/__init__.py).
local: $(INSTALLED)
	$(BIN)/python -m local_stack

# Headless Chromium for tests/test_browser.py: Debian's chromium, which Playwright drives over
# CDP (its own browser download does not work here; no chromedriver is needed). Installed only
# when missing, and only as root with apt-get; anywhere else this says how and `make test` goes
# on, the browser test skipping with the same words (tests/test_browser.py, MISSING).
CHROMIUM_MISSING := Chromium is missing: install Debian's chromium (sudo apt-get install chromium), or run make browser as root
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } || echo "$(CHROMIUM_MISSING)"; \
	else echo "$(CHROMIUM_MISSING)"; fi

# This project beside the seed's strategy on its own moto server (a few minutes): prints one
# table and writes benchmarks/results.json. `make test` runs a quick mode of it.
bench: $(INSTALLED)
	$(BIN)/python -m benchmarks

# The reliability suite at full size (5,000 page loads on the local stack, more generated input,
# the slow Discord and kill scenarios; several minutes). `make test` runs its quick mode.
reliability: $(INSTALLED)
	RELIABILITY_FULL=1 $(BIN)/pytest --timeout=900 tests/test_reliability_*.py
	@echo "figures (build/reliability/load.json):" && cat build/reliability/load.json

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# `chalice package` needs no AWS account; cfn-lint checks the SAM template it writes.
package: $(INSTALLED)
	rm -rf build/package
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) build/package
	$(BIN)/cfn-lint build/package/sam.json

# The stage as one CloudFormation stack: Chalice's template with resources/ merged in, linted
# (build/stack/sam.yaml). No AWS account needed; README, "Deploying", says how to deploy it.
package-stack: $(INSTALLED)
	rm -rf build/stack
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/python -m deploy.template --stage $(STAGE) build/stack

deploy: $(INSTALLED)
	$(BIN)/chalice deploy --stage $(STAGE)

delete: $(INSTALLED)
	$(BIN)/chalice delete --stage $(STAGE)

# The Python 3.13 that .venv is (or would be) made with.
which-python:
	@echo $(PYTHON)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
