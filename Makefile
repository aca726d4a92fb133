# The README's two commands: `make run` (main job on the default input) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: run test setup setup-test lint report clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

run: setup
	$(VENV)/bin/ros-detect video -o $(OUT)

test: setup-test
	$(PY) -m pytest

report: setup  # re-execute notebooks/report.ipynb in full mode and store its outputs
	$(PY) scripts/run_report.py

lint: setup
	$(VENV)/bin/ruff check ros_detect test launch

clean:
	rm -rf $(OUT) build install log .pytest_cache
