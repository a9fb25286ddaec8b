# sap_mx: `make install` then `make test` (what .ci/run does). Long runs are targets, not tests.
# `make help` lists every target: the text after `##` on a target's line.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= paper
SEED    ?= 0
DATASET ?= cifar10
DATA_DIR ?=
# optional flags, each written once: $(call opt,--flag,$(VALUE)) is empty when VALUE is
opt = $(if $(2),$(1) $(2))
DATA_FLAG = $(call opt,--data-dir,$(DATA_DIR))

.PHONY: help install install-gpu test lint bench ops clean

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]*:.*## / {printf "  make %-20s %s\n", $$1, $$2} \
	     /^## / {sub(/^## /, ""); printf "\n%s\n", $$0}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: PROFILE=paper|quick|smoke SEED=0 DATASET=cifar10 DATA_DIR= (and per area below)"

## Set-up, tests, benchmarks
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY) ## create .venv, install sap_mx (editable) with dev+atari extras, build the native op, get Fashion-MNIST where possible
	$(PY) -m pip install --quiet -e ".[dev,atari]"
	$(PY) -m sap_mx.ops.build
	$(PY) -m sap_mx.data.fetch fashion-mnist

install-gpu: $(PY) ## the same with mxnet-cu112 and the CUDA 11 runtime (NVIDIA sm_50-sm_86)
	SAP_MX_GPU=1 $(PY) -m pip install --quiet -e ".[dev,atari,gpu]"
	$(PY) -m sap_mx.ops.build

ops: ## rebuild the native SAP operator
	$(PY) -m sap_mx.ops.build --force

test: ## the test suite (CPU, < 10 min on 2 cores)
	$(PY) -m pytest -q tests

lint: ## ruff (settings in pyproject.toml); .ci/run runs it
	$(VENV)/bin/ruff check .

bench: ## performance targets and costs -> results/bench/*.csv
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_mnist.py
	$(PY) benchmarks/bench_atari.py
	$(PY) benchmarks/bench_fashion.py --profile cpu

clean: ## remove the native build and caches
	rm -rf sap_mx/ops/_build .pytest_cache build *.egg-info

## Image training (docs/cifar-training.md): MODEL=resnet20 RATES="0.1 0.3 0.5" GPUS= PRETRAINED= CROP=
MODEL ?= resnet20
CROP ?=
CROP_FLAG = $(call opt,--crop,$(CROP))
# dropout-trained rates: CIFAR-10 0.1 0.3 0.5; Fashion-MNIST (sized for 2 cores) 0.1 0.5
RATES ?= $(if $(filter fashion-mnist,$(DATASET)),0.1 0.5,0.1 0.3 0.5)
GPUS ?=
PRETRAINED ?=
TRAIN = $(PY) -m experiments.image_train --dataset $(DATASET) --profile $(PROFILE) --seed $(SEED) \
	--model $(MODEL) $(DATA_FLAG) $(CROP_FLAG) $(call opt,--gpus,$(GPUS)) \
	$(call opt,--pretrained,$(PRETRAINED))

.PHONY: cifar-dense cifar-dropout-train cifar-adv-train cifar-train
cifar-dense: ## train the dense ResNet-20 (results[/smoke]/models/)
	$(TRAIN) --recipe dense
cifar-dropout-train: ## train the dropout-trained ResNet-20s, one per rate in RATES
	@for rate in $(RATES); do $(TRAIN) --recipe dropout --rate $$rate || exit $$?; done
cifar-adv-train: ## train ADV (20% FGSM examples per batch)
	$(TRAIN) --recipe adv
cifar-train: cifar-dense cifar-dropout-train cifar-adv-train ## all three recipes
.PHONY: weights weights-check
weights: ## (re)write the SHA256SUMS of the trained models of DATASET/PROFILE
	$(PY) -m experiments.weights --dataset $(DATASET) --profile $(PROFILE)
weights-check: ## check the weights against SHA256SUMS, then their test accuracy against final.json
	$(PY) -m experiments.weights --dataset $(DATASET) --profile $(PROFILE) --check --evaluate \
		$(DATA_FLAG)

## Image experiments, Figs. 1-6 (docs/image-experiments.md): each first trains what it reads; DENSE=gluoncv
DENSE ?=
NEEDS_DENSE = $(if $(filter gluoncv,$(DENSE)),,cifar-dense)
EVAL = $(PY) -m experiments.image_eval --dataset $(DATASET) --profile $(PROFILE) --seed $(SEED) \
	--model $(MODEL) --rates "$(RATES)" $(DATA_FLAG) $(CROP_FLAG) $(call opt,--dense,$(DENSE))

.PHONY: cifar-sap cifar-iterative cifar-dropout cifar-adv cifar-baselines cifar-mc cifar-all report
cifar-sap: $(NEEDS_DENSE) ## Fig. 1a/1b: SAP-k under random noise and FGSM
	$(EVAL) --experiment sap
cifar-iterative: $(NEEDS_DENSE) ## Fig. 1c: the iterative attack
	$(EVAL) --experiment iterative
cifar-dropout: $(NEEDS_DENSE) cifar-dropout-train ## Fig. 2: dropout post hoc and dropout-trained
	$(EVAL) --experiment dropout
cifar-adv: $(NEEDS_DENSE) cifar-adv-train ## Figs. 3 and 4: ADV, ADV+SAP-100, calibration
	$(EVAL) --experiment adv
cifar-baselines: $(NEEDS_DENSE) ## Fig. 5: RNW, RSW, DWP, SWP, RNA, RSA
	$(EVAL) --experiment baselines
cifar-mc: $(NEEDS_DENSE) ## Fig. 6: the adversary's MC samples
	$(EVAL) --experiment mc
cifar-all: cifar-sap cifar-iterative cifar-dropout cifar-adv cifar-baselines cifar-mc ## every figure
report: ## results/REPORT.md (PROFILE=smoke: results/smoke/REPORT.md)
	$(PY) -m experiments.report --profile $(PROFILE) --dataset $(DATASET)
BEFORE ?=
.PHONY: before-after
before-after: ## the front page's numbers and changed verdicts: BEFORE=<commit> vs the committed CSVs
	$(PY) -m experiments.before_after --dataset $(DATASET) --profile $(PROFILE) --seed $(SEED) \
		--before "$(BEFORE)" $(call opt,--doc,$(DOC))

## Figures from the CSVs alone, no attack run (docs/image-experiments.md#figures)
.PHONY: figures
figures: ## redraw every figure of DATASET/PROFILE (Figs. 1-6, adaptive, the MLPs') from its CSVs
	$(PY) -m experiments.redraw --dataset $(DATASET) --profile $(PROFILE) --seed $(SEED)

## The whole real-data track (docs/fashion-mnist.md): every step above in order, timed, resumable
TRACK_PROFILE ?= cpu
.PHONY: fashion-track
fashion-track: ## Fashion-MNIST (TRACK_PROFILE=cpu): train, Figs. 1-6, adaptive, SDR Table 1, report
	$(PY) -m experiments.track --dataset fashion-mnist --profile $(TRACK_PROFILE) --seed $(SEED)

## Khan et al. Table 1 (docs/mnist-sdr.md): trains the four MLPs, attacks them, writes the table
.PHONY: mnist-sdr
mnist-sdr: ## Table 1 on MNIST (results[/smoke]/mnist/); DATASET=fashion-mnist: on Fashion-MNIST
	$(PY) -m experiments.mnist_sdr --profile $(PROFILE) --seed $(SEED) $(DATA_FLAG) \
		$(if $(filter fashion-mnist,$(DATASET)),--dataset fashion-mnist)

## Adaptive evaluation (docs/adaptive.md): the paper's attack next to PGD/APGD with EOT and BPDA
.PHONY: cifar-adaptive mnist-adaptive
cifar-adaptive: $(NEEDS_DENSE) cifar-adv-train ## the image models of DATASET
	$(PY) -m experiments.adaptive --family image --dataset $(DATASET) --profile $(PROFILE) \
		--seed $(SEED) --model $(MODEL) $(DATA_FLAG) $(CROP_FLAG) $(call opt,--dense,$(DENSE))
mnist-adaptive: mnist-sdr ## Khan et al.'s MLPs (DATASET=fashion-mnist: theirs on Fashion-MNIST)
	$(PY) -m experiments.adaptive --family mnist --profile $(PROFILE) --seed $(SEED) $(DATA_FLAG) \
		$(if $(filter fashion-mnist,$(DATASET)),--dataset fashion-mnist)

## Atari (docs/atari.md): DDQN agent, then Table 1; GAME=<ALE name>; PROFILE=cpu: the agent sized for this CPU; HOURS= MC= CHECK=
GAME ?=
HOURS ?=
MC ?=
CHECK ?=
ATARI_ARGS = --game "$(GAME)" --profile $(PROFILE) --seed $(SEED)
TRAIN_ARGS = $(ATARI_ARGS) $(call opt,--hours,$(HOURS))
EVAL_ARGS = $(ATARI_ARGS) $(call opt,--mc,$(MC)) $(call opt,--check,$(CHECK))
NEEDS_GAME = @test -n "$(GAME)" || { echo "error: name a game: make $@ GAME=Bowling (any ALE game)"; exit 2; }
.PHONY: atari atari-train atari-bg atari-eval atari-table atari-figures
atari: atari-train ## train (or resume), evaluate dense vs SAP-100 under FGSM, update the table
	$(PY) -m rl.evaluate $(EVAL_ARGS)
	$(PY) -m rl.table --profile $(PROFILE)
atari-train: ## train (or resume) the DDQN agent; kill or Ctrl-C stops it with a checkpoint, HOURS= after that long
	$(NEEDS_GAME)
	$(PY) -m rl.ddqn $(TRAIN_ARGS)
atari-bg: ## the same, detached: prints the pid, logs to the run folder's train.log
	$(NEEDS_GAME)
	$(PY) -m rl.ddqn $(TRAIN_ARGS) --background
atari-eval: ## Table 1 of a trained agent (MC= SAP's passes; all games recorded: replays dense at lambda 0)
	$(NEEDS_GAME)
	$(PY) -m rl.evaluate $(EVAL_ARGS)
atari-table: ## every game with results next to the paper's Table 1 (and the README's Atari block)
	$(PY) -m rl.table --profile $(PROFILE)
atari-figures: ## redraw every game's <Game>.png from its CSVs (no game played)
	$(PY) -m rl.figure --profile $(PROFILE)
