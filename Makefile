# sap_mx: `make install` then `make test` (what .ci/run does). Long runs are targets, not tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= paper

.PHONY: install install-gpu test bench ops clean help

help:
	@echo "make install      create $(VENV), install sap_mx (editable) with dev+atari extras, build the native op"
	@echo "make test         run the test suite (CPU, < 10 min on 2 cores)"
	@echo "make bench        performance targets and training throughput -> results/bench/*.csv"
	@echo "make install-gpu  the same with mxnet-cu112 and the CUDA 11 runtime (NVIDIA sm_50-sm_86)"
	@echo "make cifar-dense | cifar-dropout-train | cifar-adv-train   train [PROFILE=paper|quick|smoke SEED=0]"
	@echo "make cifar-sap | cifar-iterative | cifar-dropout | cifar-adv | cifar-baselines | cifar-mc | cifar-all"
	@echo "make report       results/REPORT.md (PROFILE=smoke: results/smoke/REPORT.md)"
	@echo "make mnist-sdr    Khan et al. Table 1 (MNIST)"
	@echo "make cifar-adaptive | mnist-adaptive   the paper's attack vs PGD/APGD-EOT and BPDA"
	@echo "make atari GAME=Bowling   train a DDQN agent, then Table 1 (dense vs SAP-100 under FGSM)"
	@echo "make atari-train | atari-eval GAME=...   the two halves; make atari-table: every game vs the paper"

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
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_mnist.py
	$(PY) benchmarks/bench_atari.py

clean:
	rm -rf sap_mx/ops/_build .pytest_cache build *.egg-info

# ---- CIFAR-10 training (issue 3): PROFILE=smoke|quick|paper, outputs in results[/smoke]/models/
SEED ?= 0
MODEL ?= resnet20
RATES ?= 0.1 0.3 0.5
DATA_DIR ?=
GPUS ?=
PRETRAINED ?=
TRAIN = $(PY) -m experiments.cifar_train --profile $(PROFILE) --seed $(SEED) --model $(MODEL) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(GPUS),--gpus $(GPUS)) \
	$(if $(PRETRAINED),--pretrained $(PRETRAINED))

.PHONY: cifar-dense cifar-dropout-train cifar-adv-train cifar-train
cifar-dense:
	$(TRAIN) --recipe dense
cifar-dropout-train:
	@for rate in $(RATES); do $(TRAIN) --recipe dropout --rate $$rate || exit $$?; done
cifar-adv-train:
	$(TRAIN) --recipe adv
cifar-train: cifar-dense cifar-dropout-train cifar-adv-train

# ---- CIFAR-10 experiments (issue 4): each target first trains (or resumes, or finds finished)
# the models it reads; DENSE=gluoncv evaluates GluonCV's published v2 weights as the dense model.
DENSE ?=
NEEDS_DENSE = $(if $(filter gluoncv,$(DENSE)),,cifar-dense)
EVAL = $(PY) -m experiments.cifar_eval --profile $(PROFILE) --seed $(SEED) --model $(MODEL) \
	--rates "$(RATES)" $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(DENSE),--dense $(DENSE))

.PHONY: cifar-sap cifar-iterative cifar-dropout cifar-adv cifar-baselines cifar-mc cifar-all report
cifar-sap: $(NEEDS_DENSE)
	$(EVAL) --experiment sap
cifar-iterative: $(NEEDS_DENSE)
	$(EVAL) --experiment iterative
cifar-dropout: $(NEEDS_DENSE) cifar-dropout-train
	$(EVAL) --experiment dropout
cifar-adv: $(NEEDS_DENSE) cifar-adv-train
	$(EVAL) --experiment adv
cifar-baselines: $(NEEDS_DENSE)
	$(EVAL) --experiment baselines
cifar-mc: $(NEEDS_DENSE)
	$(EVAL) --experiment mc
cifar-all: cifar-sap cifar-iterative cifar-dropout cifar-adv cifar-baselines cifar-mc
report:
	$(PY) -m experiments.report --profile $(PROFILE)

# ---- MNIST, Khan et al. Table 1 (issue 5): trains the four MLPs, attacks them, writes the table
.PHONY: mnist-sdr
mnist-sdr:
	$(PY) -m experiments.mnist_sdr --profile $(PROFILE) --seed $(SEED) \
		$(if $(DATA_DIR),--data-dir $(DATA_DIR))

# ---- adaptive evaluation (issue 6): the paper's attack next to PGD/APGD with EOT and BPDA
.PHONY: cifar-adaptive mnist-adaptive
cifar-adaptive: $(NEEDS_DENSE) cifar-adv-train
	$(PY) -m experiments.adaptive --family cifar --profile $(PROFILE) --seed $(SEED) \
		$(if $(DATA_DIR),--data-dir $(DATA_DIR))
mnist-adaptive: mnist-sdr
	$(PY) -m experiments.adaptive --family mnist --profile $(PROFILE) --seed $(SEED) \
		$(if $(DATA_DIR),--data-dir $(DATA_DIR))

# ---- Atari (issue 7): DDQN agent, then Table 1; PROFILE=smoke|quick|paper, SEED; outputs in
# results/atari/ (smoke: results/smoke/atari/). Training resumes from its last checkpoint.
GAME ?=
ATARI_ARGS = --game "$(GAME)" --profile $(PROFILE) --seed $(SEED)
.PHONY: atari atari-train atari-eval atari-table
atari: atari-train
	$(PY) -m rl.evaluate $(ATARI_ARGS)
	$(PY) -m rl.table --profile $(PROFILE)
atari-train:
	@test -n "$(GAME)" || { echo "error: name a game: make atari GAME=Bowling (any ALE game)"; exit 2; }
	$(PY) -m rl.ddqn $(ATARI_ARGS)
atari-eval:
	@test -n "$(GAME)" || { echo "error: name a game: make atari-eval GAME=Bowling"; exit 2; }
	$(PY) -m rl.evaluate $(ATARI_ARGS)
atari-table:
	$(PY) -m rl.table --profile $(PROFILE)
