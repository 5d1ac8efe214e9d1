# Gaze2Report: the two commands of the README.
#   make run   set up, fetch the embedded assets, open the workstation on the default case
#   make test  set up, fetch the embedded assets, run the whole test suite (CI runs exactly this)
# Python 3.11 stays the default: Python 3.12 would make None immortal (a binding that leaks references
# to None could no longer abort), but the toolkit pin in pyproject.toml and its guard test already keep
# such a binding out, and where only the 3.11 CPU wheel of torch 2.13.0 is at hand, 3.12 would pull a
# multi-GB CUDA build of torch.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup assets lint screenshots

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

setup: $(STAMP)

assets: setup
	$(PY) main.py assets fetch

run: assets
	$(PY) main.py

test: assets
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check .

screenshots: assets
	$(PY) scripts/screenshots.py
