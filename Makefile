# The two commands of the README: `make demo` and `make test` (each does all set-up first).
.PHONY: setup demo test unit stack-up stack-down clean

VENV := .venv
FORGOOD := $(VENV)/bin/forgood

setup:
	@bash scripts/setup.sh

demo: setup
	$(FORGOOD) demo

test: setup
	$(VENV)/bin/python -m pytest

unit: setup
	$(VENV)/bin/python -m pytest tests/unit

stack-up: setup
	$(FORGOOD) stack up

stack-down: setup
	$(FORGOOD) stack down

clean:
	-$(FORGOOD) stack down
	rm -rf .forgood
