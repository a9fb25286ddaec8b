"""Shared fixtures: fixed seeds everywhere, and the SAP backends to run law tests against."""
import random

import sap_mx  # noqa: F401  (first: it sets the project's OpenMP default before MXNet loads)
import mxnet as mx
import numpy as np
import pytest

from sap_mx import ops


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    mx.random.seed(0)
    yield


@pytest.fixture(params=["native", "python"])
def backend(request):
    """Run the test once per SAP backend, restoring the default afterwards."""
    previous = ops.backend()
    ops.set_backend(request.param)
    yield request.param
    ops.set_backend(previous)


def small_cnn(classes: int = 10) -> mx.gluon.HybridBlock:
    """A small Gluon CNN built the GluonCV way (ReLUs as `activation='relu'` of Conv/Dense)."""
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Conv2D(8, 3, padding=1, activation="relu", in_channels=3),
            mx.gluon.nn.BatchNorm(in_channels=8),
            mx.gluon.nn.Activation("relu"),
            mx.gluon.nn.MaxPool2D(2),
            mx.gluon.nn.Flatten(),
            mx.gluon.nn.Dense(32, activation="relu", in_units=8 * 4 * 4),
            mx.gluon.nn.Dense(classes, in_units=32))
    net.initialize(mx.init.Xavier(magnitude=2))
    # non-trivial BatchNorm statistics
    with mx.autograd.train_mode():
        for _ in range(3):
            net(mx.nd.random.uniform(0, 255, (16, 3, 8, 8)))
    return net


@pytest.fixture
def cnn():
    return small_cnn()


@pytest.fixture
def images():
    x = mx.nd.random.uniform(0, 255, (6, 3, 8, 8))
    y = mx.nd.array([0, 1, 2, 3, 4, 5])
    return x, y
