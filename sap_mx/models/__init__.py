"""Models with every ReLU as an ``nn.Activation('relu')`` block, and a name -> constructor
registry (``get_model``) that other parts of the project extend with ``register_model``."""
from __future__ import annotations

from typing import Callable

import mxnet as mx
from mxnet.gluon import Block

from .cifar_resnet import CIFARResNetPreAct, authors_initializer, resnet20
from .gluoncv_resnet import (WeightsUnavailable, cifar_resnet20_v1, cifar_resnet20_v2,
                             load_gluoncv_weights)
from .mlp import mlp_dropconnect, mlp_sdr_decay, mlp_sdr_learnable, mlp_vanilla

__all__ = ["resnet20", "cifar_resnet20_v1", "cifar_resnet20_v2", "CIFARResNetPreAct",
           "mlp_vanilla", "mlp_sdr_decay", "mlp_sdr_learnable", "mlp_dropconnect",
           "get_model", "register_model", "MODELS", "initialize", "load_gluoncv_weights",
           "WeightsUnavailable"]

MODELS: dict[str, Callable[..., Block]] = {
    "resnet20": resnet20,                     # the authors' CIFAR-10 network (default)
    "cifar_resnet20_v1": cifar_resnet20_v1,   # GluonCV layouts: their weights load
    "cifar_resnet20_v2": cifar_resnet20_v2,
    "mlp_vanilla": mlp_vanilla,               # MNIST, Khan et al. (SDR-Learnable), Table 1
    "mlp_sdr_decay": mlp_sdr_decay,
    "mlp_sdr_learnable": mlp_sdr_learnable,
    "mlp_dropconnect": mlp_dropconnect,
}


def register_model(name: str, constructor: Callable[..., Block]) -> None:
    MODELS[name] = constructor


def get_model(name: str, **kwargs) -> Block:
    """Build the model registered as ``name`` (uninitialised)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)


def initialize(net: Block, ctx=None, seed: int | None = None) -> Block:
    """Initialise ``net`` with the authors' Xavier(gaussian, in, 2) (optionally seeding MXNet)."""
    if seed is not None:
        mx.random.seed(seed)
    net.initialize(authors_initializer(), ctx=ctx or mx.cpu(), force_reinit=True)
    return net
