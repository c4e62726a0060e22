# The two commands of the README: `make demo` and `make test` (each does all set-up first).
.PHONY: setup demo lint test unit stack-up stack-down clean

VENV := .venv
FORGOOD := $(VENV)/bin/forgood

setup:
	@bash scripts/setup.sh

demo: setup
	$(FORGOOD) demo

# Lint and types first (config in pyproject.toml): a finding fails `make test` before pytest runs.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: setup lint
	$(VENV)/bin/python -m pytest

# Fast: unit tests only, no lint.
unit: setup
	$(VENV)/bin/python -m pytest tests/unit tests/deploy

stack-up: setup
	$(FORGOOD) stack up

stack-down: setup
	$(FORGOOD) stack down

clean:
	-$(FORGOOD) stack down
	rm -rf .forgood
