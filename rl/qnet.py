"""The Nature-DQN Q-network (Mnih et al. 2015; the SAP paper's Appendix A), in Gluon.

Input: a (N, 4, 84, 84) batch of 0..255 pixels (float32), scaled by 1/255 inside the network, so
FGSM's lambda is in pixel units on the network's own input, as for the CIFAR-10 models. Every ReLU
is an ``nn.Activation('relu')`` block, which is what ``sap_mx.defend(q, 'sap', frac=1.0)`` finds:
SAP then sits after each of the four hidden layers, as the paper applies it.

``q_graph`` is the same network written as a function of its parameters (``layer_params``), for
the fused learner's one-graph update (``rl.learner.DDQNLoss``), optionally on the
``space_to_depth`` layout of the first convolution.
"""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import nn

__all__ = ["NatureQNet", "nature_qnet", "LAYERS", "layer_params", "space_to_depth", "q_graph"]


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


# ---------------------------------------------------------------------------------------------
# the same network as a function of its parameters (the learner's fused graph, rl.learner)
# ---------------------------------------------------------------------------------------------
LAYERS = ("conv1", "conv2", "conv3", "fc1", "fc2")  #: NatureQNet's weighted layers, in order
BLOCK = 4  #: space-to-depth block of the first convolution (its stride)


def layer_params(net: NatureQNet) -> dict:
    """``{'conv1_weight': Parameter, 'conv1_bias': ..., ..., 'fc2_bias': ...}`` of ``net``: the
    parameters ``q_graph`` takes, the same objects (shared, not copied)."""
    weighted = [b for b in net._children.values() if isinstance(b, (nn.Conv2D, nn.Dense))]
    out = {}
    for name, block in zip(LAYERS, weighted, strict=True):
        out[f"{name}_weight"], out[f"{name}_bias"] = block.weight, block.bias
    return out


def space_to_depth(x, block: int = BLOCK):
    """(N, C, H, W) -> (N, C * block**2, H / block, W / block), channel c * block**2 + i * block
    + j holding pixel (i, j) of each block (NumPy; any dtype).

    The first convolution (8x8, stride 4) on ``x`` is then a 2x2, stride-1 convolution on this
    layout with the weights rearranged the same way (``q_graph(..., space_to_depth=True)``): the
    same sums, which oneDNN computes ~3x faster in the backward pass (its weight gradient on the
    8x8/4 layout falls back to a GEMM)."""
    n, c, h, w = x.shape
    if h % block or w % block:
        raise ValueError(f"space_to_depth needs H and W divisible by {block}, got {x.shape}")
    blocks = x.reshape(n, c, h // block, block, w // block, block).transpose(0, 1, 3, 5, 2, 4)
    return blocks.reshape(n, c * block * block, h // block, w // block)


def q_graph(F, x, p: dict, actions: int, *, space_to_depth: bool = False):
    """NatureQNet's forward on float pixels ``x`` (0..255) with the parameters ``p``
    (``layer_params``' names; symbols or NDArrays) and ``actions`` outputs, for ``F`` =
    ``mx.sym`` or ``mx.nd``: the same operators as the Gluon blocks.

    With ``space_to_depth`` ``x`` is in ``space_to_depth``'s layout and the first layer's
    weights are rearranged to match inside the graph, so gradients still reach the (32, 4, 8, 8)
    parameter."""
    def relu(h):
        return F.Activation(h, act_type="relu")

    w1, kernel, stride = p["conv1_weight"], (8, 8), (4, 4)
    if space_to_depth:
        b = BLOCK
        w1 = F.reshape(F.transpose(F.reshape(w1, (32, 4, 8 // b, b, 8 // b, b)),
                                   (0, 1, 3, 5, 2, 4)), (32, 4 * b * b, 8 // b, 8 // b))
        kernel, stride = (8 // b, 8 // b), (1, 1)
    h = relu(F.Convolution(x * (1.0 / 255.0), w1, p["conv1_bias"], kernel=kernel,
                           stride=stride, num_filter=32))
    h = relu(F.Convolution(h, p["conv2_weight"], p["conv2_bias"], kernel=(4, 4), stride=(2, 2),
                           num_filter=64))
    h = relu(F.Convolution(h, p["conv3_weight"], p["conv3_bias"], kernel=(3, 3), stride=(1, 1),
                           num_filter=64))
    h = relu(F.FullyConnected(F.flatten(h), p["fc1_weight"], p["fc1_bias"], num_hidden=512))
    return F.FullyConnected(h, p["fc2_weight"], p["fc2_bias"], num_hidden=int(actions))
