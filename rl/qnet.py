"""The Nature-DQN Q-network (Mnih et al. 2015; the SAP paper's Appendix A), in Gluon.

Input: a (N, 4, 84, 84) batch of 0..255 pixels (float32), scaled by 1/255 inside the network, so
FGSM's lambda is in pixel units on the network's own input, as for the CIFAR-10 models. Every ReLU
is an ``nn.Activation('relu')`` block, which is what ``sap_mx.defend(q, 'sap', frac=1.0)`` finds:
SAP then sits after each of the four hidden layers, as the paper applies it.
"""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import nn

__all__ = ["NatureQNet", "nature_qnet"]


class _Scale(nn.HybridBlock):
    """x * factor (pixels to [0, 1])."""

    def __init__(self, factor: float, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def hybrid_forward(self, F, x):
        return x * self.factor


class NatureQNet(nn.HybridSequential):
    """conv 32 8x8/4, conv 64 4x4/2, conv 64 3x3/1, dense 512, dense |A|; ReLU after each hidden.

    Parameters
    ----------
    actions : int
        Number of actions (the Q-values returned per row).
    """

    def __init__(self, actions: int, **kwargs):
        super().__init__(**kwargs)
        if int(actions) < 1:
            raise ValueError(f"actions must be >= 1, got {actions}")
        self.actions = int(actions)
        with self.name_scope():
            self.add(_Scale(1.0 / 255.0),
                     nn.Conv2D(32, 8, strides=4, in_channels=4), nn.Activation("relu"),
                     nn.Conv2D(64, 4, strides=2, in_channels=32), nn.Activation("relu"),
                     nn.Conv2D(64, 3, strides=1, in_channels=64), nn.Activation("relu"),
                     nn.Flatten(),
                     nn.Dense(512, in_units=64 * 7 * 7), nn.Activation("relu"),
                     nn.Dense(self.actions, in_units=512))


def nature_qnet(actions: int, *, ctx=None, seed: int | None = None) -> NatureQNet:
    """A NatureQNet on ``ctx`` (default CPU), weights uniform in +-1/sqrt(fan_in) (Torch 7's
    default, which the Nature DQN code used), biases zero; optionally seeding MXNet first."""
    net = NatureQNet(actions)
    if seed is not None:
        mx.random.seed(seed)
    net.initialize(mx.init.Xavier(rnd_type="uniform", factor_type="in", magnitude=1),
                   ctx=ctx or mx.cpu())
    return net
