# The README's two commands: `make run` (main job on the default input) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out
LINT_PATHS := ros_detect test launch scripts

.PHONY: run test test-fast setup setup-test lint report clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

run: setup
	$(VENV)/bin/ros-detect video -o $(OUT)

# The default suite (everything but -m slow; see docs/testing.md), after the linter: style errors fail in
# a second, not after the end-to-end tests.
test: setup-test
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(PY) -m pytest

# Pure-Python tests only (-m unit): seconds. Needs no mosquitto, chromium or npm, so the venv is enough.
test-fast: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(PY) -m pytest -m unit -q

report: setup  # re-execute notebooks/report.ipynb in full mode and store its outputs
	$(PY) scripts/run_report.py

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)

clean:
	rm -rf $(OUT) build install log .pytest_cache
