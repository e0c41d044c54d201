# The two commands of the README. Both install whatever is missing first.
#   make bench [DIR=folder-of-jpegs] [ARGS="--seconds 3"]   (freqload bench)
#   make test  [ARGS="-k corpus"]   (lint, the docs site, then the test suite)
# and what they are made of:
#   make lint    ruff, the layer contract (lint-imports), mypy
#   make docs    the Sphinx site in docs/_build/html, warnings as errors
#   make bench-detail [DIR=...]   (benchmarks/decode.py, then benchmarks/loader.py)
PY := .venv/bin/python

.PHONY: setup bench bench-detail lint docs test
setup:
	./scripts/setup.sh

bench: setup
	$(PY) -m freqload bench $(DIR) $(ARGS)

bench-detail: setup
	$(PY) benchmarks/decode.py $(DIR) $(ARGS)
	$(PY) benchmarks/loader.py $(DIR) $(ARGS)

lint: setup
	$(PY) -m ruff check .
	.venv/bin/lint-imports
	$(PY) -m mypy

docs: setup
	$(PY) -m sphinx -E -W --keep-going -q -b html docs docs/_build/html

test: lint docs
	$(PY) -m pytest $(ARGS)
