"""The profiles of the image and MNIST drivers, built with keywords (``runkit.profiles``).

One table per kind of work, each keyed by the profile names ``paper`` / ``quick`` / ``smoke`` and
``cpu`` (real data, sized for a 2-core CPU; measured with ``benchmarks/bench_fashion.py``):

* ``TRAIN``: how image models are trained (``experiments.image_train``);
* ``EVAL``: how the figure experiments evaluate them (``experiments.image_eval``);
* ``ADAPTIVE``: how hard the adaptive attacks try (``experiments.adaptive``);
* ``MNIST``: training and attack budget of Khan et al.'s Table 1 (``experiments.mnist_sdr``).

The Atari agent's table is ``rl.profiles.ATARI``. Where a number is the paper's, the ``paper``
profile has it; the others are our reductions (docs/choices.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from runkit import Profiles

__all__ = ["TrainProfile", "EvalProfile", "AdaptiveProfile", "MnistProfile", "TRAIN", "EVAL",
           "ADAPTIVE", "MNIST"]


@dataclass(frozen=True, kw_only=True)
class TrainProfile:
    """How much data and compute an image training run uses."""

    data: str                 # 'real' (the dataset's files) or 'generated' (smoke)
    epoch_scale: float        # fraction of the recipe's epochs
    batch_size: int | None    # None: the recipe's
    n_train: int = 0          # generated data only
    n_test: int = 0
    min_epochs: int = 1


@dataclass(frozen=True, kw_only=True)
class EvalProfile:
    """How much work a figure experiment does (the paper's numbers in ``paper``)."""

    n_test: int            # first n test images
    predict_mc: int        # passes averaged for a stochastic model's prediction
    attack_mc: int         # MC samples of an FGSM gradient on a stochastic model
    iterative_mc: int      # MC samples per step of the iterative attack on SAP-100
    mc_grid: tuple         # Fig. 6 adversary MC samples
    batch: int = 128
    sap_mc: int = 0        # FGSM MC samples on the SAP models of Figs. 1b and 3 (0: attack_mc)
    # Fig. 5: each baseline's grid is attacked on select_n held-out test images (those right
    # after the first n_test) with select_mc MC samples (0: attack_mc), and only the parameter
    # chosen there (experiments.selection) on the first n_test; select_n = 0: no held-out
    # choice, the whole grid on the first n_test (the claims table then judges no baseline)
    select_n: int = 0
    select_mc: int = 0


@dataclass(frozen=True, kw_only=True)
class AdaptiveProfile:
    """How hard the adaptive attacks try, and on how many images."""

    n_test: int
    predict_mc: int
    paper_mc: int            # MC samples of the paper's FGSM (image models)
    steps: int               # PGD steps
    eot_samples: int         # EOT passes per gradient (PGD, APGD)
    apgd_iter: int
    apgd_restarts: int = 1   # AutoAttack 'rand' (EOT): 1 restart; its standard version: more
    transfer_steps: int = 0  # PGD steps on the deterministic twin (transfer attacks; 0: steps)
    apgd_losses: tuple = ("ce", "dlr")  # APGD's losses (AutoAttack 'rand': both)
    batch: int = 128
    # lambdas per model (image family): empty eps_grid = the family's whole grid for every
    # model; else main_models (model keys, experiments.zoo.model_key) get eps_grid and every
    # other model other_eps (empty main_models: every model gets eps_grid)
    eps_grid: tuple = ()
    main_models: tuple = ()
    other_eps: tuple = ()
    # longer runs of one attack, (attack, steps, EOT samples), on the main models with SAP at
    # long_eps: whether the strongest attack has converged where the claims are decided
    # (sap_mx.attacks.convergence); each also joins the worst case at its lambda. A fourth
    # item, a tuple of main-model keys, limits that run to those models
    long_attacks: tuple = ()
    long_eps: tuple = ()

    def __post_init__(self):
        for entry in self.long_attacks:
            if len(entry) not in (3, 4):
                raise ValueError(f"long_attacks entry {entry!r}: give (attack, steps, EOT "
                                 "samples) or (attack, steps, EOT samples, (model keys, ...))")
            if len(entry) == 4:
                models = entry[3]
                if not isinstance(models, tuple) or not models:
                    raise ValueError(f"long_attacks entry {entry!r}: its 4th item must be a "
                                     "non-empty tuple of model keys, e.g. ('dense+sap-100',)")
                unknown = [m for m in models if m not in self.main_models]
                if unknown:
                    raise ValueError(f"long_attacks entry {entry!r}: {', '.join(unknown)} not "
                                     f"in main_models {self.main_models}")


@dataclass(frozen=True, kw_only=True)
class MnistProfile:
    """Training and attack budget of Khan et al.'s Table 1."""

    epochs: int
    learnable_epochs: int     # SDR-Learnable trains longer: its variance schedule needs epochs
    n_attack: int             # first n test images attacked (paper protocol)
    eot: int                  # passes averaged by the EOT protocol
    n_attack_eot: int         # first n test images attacked under the (costlier) EOT protocol
    fgsm_grid: int = 1000     # Foolbox 1.x default: 1000 eps values up to max_epsilon = 1
    deepfool_steps: int = 50
    localsearch_rounds: int = 150
    batch: int = 128
    lr: float = 1e-3          # Adam
    n_train: int = 0          # generated data only
    n_test: int = 0


TRAIN = Profiles("image training", {
    "paper": TrainProfile(data="real", epoch_scale=1.0, batch_size=None),
    "quick": TrainProfile(data="real", epoch_scale=0.1, batch_size=None, min_epochs=3),
    "smoke": TrainProfile(data="generated", epoch_scale=0.02, batch_size=64, n_train=640,
                          n_test=200, min_epochs=8),
    # real data, sized for a 2-core CPU: the dataset's whole recipe (Fashion-MNIST's recipes are
    # already the paper's scaled to it; for CIFAR-10 this is the paper's training)
    "cpu": TrainProfile(data="real", epoch_scale=1.0, batch_size=None),
})
EVAL = Profiles("the image experiments", {
    # CIFAR-10's 10,000 test images are all evaluated: none is left to choose Fig. 5's
    # parameters on (select_n = 0)
    "paper": EvalProfile(n_test=10_000, predict_mc=100, attack_mc=100, iterative_mc=10,
                         mc_grid=(1, 10, 100, 1000)),
    "quick": EvalProfile(n_test=1_000, predict_mc=20, attack_mc=20, iterative_mc=5,
                         mc_grid=(1, 10, 100), select_n=1_000, select_mc=10),
    "smoke": EvalProfile(n_test=32, predict_mc=4, attack_mc=4, iterative_mc=2,
                         mc_grid=(1, 4, 16), batch=32, select_n=32, select_mc=2),
    # real data on a 2-core CPU (sized with benchmarks/bench_fashion.py, docs/fashion-mnist.md):
    # every stochastic model attacked with the paper's 100 MC samples (SAP, dropout, the
    # baselines' chosen parameters); the baselines' grids chosen on test images 1,000-1,999
    # with 20
    "cpu": EvalProfile(n_test=1_000, predict_mc=10, attack_mc=100, iterative_mc=5,
                       mc_grid=(1, 10, 100), select_n=1_000, select_mc=20),
})
ADAPTIVE = Profiles("the adaptive evaluation", {
    "paper": AdaptiveProfile(n_test=1_000, predict_mc=100, paper_mc=100, steps=40,
                             eot_samples=20, apgd_iter=100),
    "quick": AdaptiveProfile(n_test=200, predict_mc=20, paper_mc=20, steps=20, eot_samples=10,
                             apgd_iter=50),
    "smoke": AdaptiveProfile(n_test=16, predict_mc=2, paper_mc=2, steps=4, eot_samples=2,
                             apgd_iter=4, batch=16),
    # main models at six lambdas with the steps/EOT ladder; the others at lambda 0 and 4 with
    # the unbounded check only; the SAP main models also under longer BPDA runs at lambda 4
    # (cost: benchmarks/bench_fashion.py, docs/fashion-mnist.md)
    "cpu": AdaptiveProfile(n_test=1_000, predict_mc=10, paper_mc=20, steps=10, eot_samples=4,
                           apgd_iter=20, transfer_steps=20, eps_grid=(0, 1, 2, 4, 8, 16),
                           # APGD with the DLR loss only: CE is ascended by PGD (with EOT,
                           # through BPDA and on the twin) already, and APGD-CE would cost
                           # ~1.5 of the rerun's ~16 CPU-hours
                           apgd_losses=("dlr",),
                           main_models=("dense", "dense+sap-100", "adv", "adv+sap-100"),
                           other_eps=(0, 4),
                           # BPDA is the strongest attack on SAP-100 here: at the lambda of the
                           # headline claim its steps and its EOT samples are doubled twice
                           # each, then run together (40 x 16), with the margin loss too; on
                           # ADV+SAP-100 (whose BPDA runs had levelled off by 10 steps in the
                           # first run) both losses once at 20 x 8, so that a longer run a
                           # reviewer tries there is in its worst case
                           long_attacks=(("pgd-bpda", 20, 4, ("dense+sap-100",)),
                                         ("pgd-bpda", 40, 4, ("dense+sap-100",)),
                                         ("pgd-bpda", 10, 8, ("dense+sap-100",)),
                                         ("pgd-bpda", 10, 16, ("dense+sap-100",)),
                                         ("pgd-bpda", 40, 16, ("dense+sap-100",)),
                                         ("pgd-bpda-margin", 40, 16, ("dense+sap-100",)),
                                         ("pgd-bpda", 20, 8, ("adv+sap-100",)),
                                         ("pgd-bpda-margin", 20, 8, ("adv+sap-100",))),
                           long_eps=(4,)),
})
MNIST = Profiles("Khan et al.'s Table 1", {
    "paper": MnistProfile(epochs=50, learnable_epochs=100, n_attack=10_000, eot=10,
                          n_attack_eot=1_000),
    "quick": MnistProfile(epochs=10, learnable_epochs=20, n_attack=500, eot=10,
                          n_attack_eot=100),
    "smoke": MnistProfile(epochs=3, learnable_epochs=6, n_attack=24, eot=3, n_attack_eot=24,
                          fgsm_grid=50, deepfool_steps=10, localsearch_rounds=5, batch=64,
                          n_train=640, n_test=200),
    # real data on a 2-core CPU: the paper's training, 1,000 images attacked (100 under EOT)
    "cpu": MnistProfile(epochs=50, learnable_epochs=100, n_attack=1_000, eot=10,
                        n_attack_eot=100),
})
