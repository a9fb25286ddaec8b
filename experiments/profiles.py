"""Profiles shared by the experiment drivers: how much data and compute a run uses.

* ``paper``: the paper's recipe exactly (real data, every epoch, batch 512).
* ``quick``: real data, a tenth of the epochs (learning-rate milestones scaled to match), for a
  first look in CPU time.
* ``smoke``: a small generated CIFAR-10 in the official file format (so the real loader runs),
  a few epochs, small batches: seconds to minutes. Never results: its rows say ``smoke``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class UsageError(ValueError):
    """A command-line mistake: reported in one line, exit status 2."""


@dataclass(frozen=True)
class Profile:
    name: str
    data: str                 # 'cifar10' (real) or 'generated'
    epoch_scale: float        # fraction of the recipe's epochs
    batch_size: int | None    # None: the recipe's
    n_train: int = 0          # generated data only
    n_test: int = 0
    min_epochs: int = 1

    def results_dir(self) -> Path:
        """Where runs of this profile write: results/ (smoke: results/smoke/, git-ignored)."""
        return ROOT / "results" / ("smoke" if self.name == "smoke" else "")


PROFILES = {
    "paper": Profile("paper", "cifar10", 1.0, None),
    "quick": Profile("quick", "cifar10", 0.1, None, min_epochs=3),
    "smoke": Profile("smoke", "generated", 0.02, 64, n_train=640, n_test=200, min_epochs=8),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]
