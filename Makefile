# The two commands of the README. Both install whatever is missing first.
#   make bench [DIR=folder-of-jpegs] [ARGS="--seconds 3"]   (decode.py, then loader.py)
#   make test  [ARGS="-k corpus"]
PY := .venv/bin/python

.PHONY: setup bench test
setup:
	./scripts/setup.sh

bench: setup
	$(PY) benchmarks/decode.py $(DIR) $(ARGS)
	$(PY) benchmarks/loader.py $(DIR) $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)
