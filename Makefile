# The two commands of the README. Both install whatever is missing first.
#   make bench [DIR=folder-of-jpegs] [ARGS="--seconds 3"]   (freqload bench)
#   make test  [ARGS="-k corpus"]
#   make bench-detail [DIR=...]   (benchmarks/decode.py, then benchmarks/loader.py)
PY := .venv/bin/python

.PHONY: setup bench bench-detail test
setup:
	./scripts/setup.sh

bench: setup
	$(PY) -m freqload bench $(DIR) $(ARGS)

bench-detail: setup
	$(PY) benchmarks/decode.py $(DIR) $(ARGS)
	$(PY) benchmarks/loader.py $(DIR) $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)
