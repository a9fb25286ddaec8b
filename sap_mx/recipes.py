"""The paper's training recipes of its CIFAR-10 ResNet-20s, as section 4.1 states them.

* ``dense``: SGD, batch 512, momentum 0.9, weight decay 1e-4, learning rate 0.5 for epochs
  0-99, 0.05 for 100-129, 0.005 for 130-149.
* ``dropout`` (Fig. 2b/2c): the same network with dropout after every ReLU (``--rate``),
  250 epochs, learning rate 0.5 times 0.1 at epochs 100, 150, 190 and 220.
* ``adv`` (ADV, Fig. 3): 100 epochs, learning rate 0.5 halved every 10 epochs; every batch is
  80% clean and 20% FGSM examples (lambda = 2 pixels) made with the model as it was at the start
  of the epoch (the previous epoch's model).

``sap_mx.training`` has the training step these recipes share; a dataset's entry in
``experiments.datasets`` names the recipes it trains with (CIFAR-10: these).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Recipe", "PAPER_RECIPES", "scaled", "FASHION_MNIST_RECIPES"]


@dataclass(frozen=True)
class Recipe:
    """A training recipe (epochs and milestones in the recipe's own epochs)."""

    name: str
    epochs: int
    lr: float
    milestones: tuple[int, ...]   # the learning rate is multiplied by `factor` at each
    factor: float
    batch_size: int = 512
    momentum: float = 0.9
    wd: float = 1e-4
    adv_fraction: float = 0.0     # share of each batch replaced by FGSM examples
    adv_eps: float = 0.0          # their lambda, in pixels
    dropout: bool = False         # dropout after every ReLU (train and test)

    def scaled_milestones(self, epochs: int) -> tuple[int, ...]:
        """Milestones for a run of ``epochs`` epochs (the recipe's when epochs == self.epochs)."""
        return tuple(max(1, round(m * epochs / self.epochs)) for m in self.milestones)

    def lr_at(self, epoch: int, epochs: int | None = None) -> float:
        """Learning rate during ``epoch`` (0-based) of a run of ``epochs`` epochs."""
        steps = sum(epoch >= m for m in self.scaled_milestones(epochs or self.epochs))
        return self.lr * self.factor**steps


PAPER_RECIPES = {
    "dense": Recipe("dense", 150, 0.5, (100, 130), 0.1),
    "dropout": Recipe("dropout", 250, 0.5, (100, 150, 190, 220), 0.1, dropout=True),
    "adv": Recipe("adv", 100, 0.5, tuple(range(10, 100, 10)), 0.5, adv_fraction=0.2, adv_eps=2.0),
}


def scaled(recipe: Recipe, epochs: int) -> Recipe:
    """``recipe`` shortened to ``epochs`` epochs: the same optimiser, batch, learning rate and
    learning-rate shape (milestones at the same fractions of the run)."""
    return Recipe(recipe.name, epochs, recipe.lr, recipe.scaled_milestones(epochs),
                  recipe.factor, recipe.batch_size, recipe.momentum, recipe.wd,
                  recipe.adv_fraction, recipe.adv_eps, recipe.dropout)


# Fashion-MNIST (28x28 grayscale, 60,000 training images): the paper's recipes scaled to a
# 2-core CPU; 30/30/20 epochs instead of 150/250/100 (docs/fashion-mnist.md).
FASHION_MNIST_RECIPES = {
    "dense": scaled(PAPER_RECIPES["dense"], 30),      # lr 0.5, x0.1 at epochs 20 and 26
    "dropout": scaled(PAPER_RECIPES["dropout"], 30),  # x0.1 at 12, 18, 23, 26
    "adv": scaled(PAPER_RECIPES["adv"], 20),          # halved every 2 epochs
}
