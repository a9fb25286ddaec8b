# sap_mx: `make install` then `make test` (what .ci/run does). Long runs are targets, not tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= smoke

.PHONY: install install-gpu test bench ops clean help

help:
	@echo "make install      create $(VENV), install sap_mx (editable) with dev+atari extras, build the native op"
	@echo "make test         run the test suite (CPU, < 10 min on 2 cores)"
	@echo "make bench        performance targets -> results/bench/*.csv"
	@echo "make install-gpu  the same with mxnet-cu112 and the CUDA 11 runtime (NVIDIA sm_50-sm_86)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e ".[dev,atari]"
	$(PY) -m sap_mx.ops.build

install-gpu: $(PY)
	SAP_MX_GPU=1 $(PY) -m pip install --quiet -e ".[dev,atari,gpu]"
	$(PY) -m sap_mx.ops.build

ops:
	$(PY) -m sap_mx.ops.build --force

test:
	$(PY) -m pytest -q tests

bench:
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf sap_mx/ops/_build .pytest_cache build *.egg-info
