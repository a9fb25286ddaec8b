"""Attacks in the model's own input space (0..255 pixels for the project's models).

``fgsm`` and ``bim`` take the Monte Carlo gradient of ``gradients.input_gradient`` (the paper's
estimate for stochastic models); ``random_noise`` is the random-sign baseline of Fig. 1a.
``fgsm_minimal`` (Foolbox 1's smallest-eps FGSM), ``deepfool`` and ``local_search`` (black box)
are the attacks of Khan et al.'s MNIST Table 1; ``EOT`` wraps a stochastic model into its
expectation for any attack. ``pgd`` and ``apgd`` (with EOT gradients) and ``bpda`` (SAP's
backward pass as the identity) are the adaptive attacks of the project's stronger evaluation, and
``sanity`` checks that an attack is strong enough to trust (unbounded -> 0%, more steps or EOT
samples change nothing: the attack has converged; ``judge`` and ``rejudge`` are that rule on
recorded measurements; ``convergence`` judges longer runs of one attack at one lambda). No
attack changes a model's mode: gradients are taken with BatchNorm in inference mode on a
parameter-sharing view (see ``gradients``).
"""
from .bpda import bpda
from .deepfool import deepfool
from .eot import EOT
from .fgsm import fgsm, fgsm_minimal, fgsm_step
from .gradients import LOSSES, gradient_view, input_gradient
from .iterative import bim, project
from .localsearch import local_search
from .noise import random_noise
from .pgd import apgd, apgd_checkpoints, pgd
from .sanity_checks import convergence, judge, pgd_attack, rejudge, sanity

__all__ = ["fgsm", "fgsm_step", "fgsm_minimal", "deepfool", "local_search", "EOT", "bim",
           "pgd", "apgd", "apgd_checkpoints", "bpda", "random_noise", "input_gradient",
           "gradient_view", "project", "LOSSES",
           "pgd_attack", "sanity", "judge", "rejudge", "convergence"]
