"""Attacks in the model's own input space (0..255 pixels for the project's models).

``fgsm`` and ``bim`` take the Monte Carlo gradient of ``gradients.input_gradient`` (the paper's
estimate for stochastic models); ``random_noise`` is the random-sign baseline of Fig. 1a. No
attack changes a model's mode: gradients are taken with BatchNorm in inference mode on a
parameter-sharing view (see ``gradients``).
"""
from .fgsm import fgsm, fgsm_step
from .gradients import LOSSES, gradient_view, input_gradient
from .iterative import bim, project
from .noise import random_noise

__all__ = ["fgsm", "fgsm_step", "bim", "random_noise", "input_gradient", "gradient_view", "project", "LOSSES"]
