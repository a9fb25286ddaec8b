"""The MNIST MLPs of Khan et al. (SDR-Learnable): vanilla, SDR-Decay, SDR-Learnable, DropConnect.

All four are 784-100-100-100-10 with ReLU blocks after the hidden layers (so ``sap_mx.defend``
reaches them too) and logits out (softmax is in the loss and in ``predict_proba``). Inputs are
(N, 28, 28) or (N, 784) pixels on the 0..1 scale (Foolbox's bounds in the paper's experiments).

Stochastic layers draw **one weight sample per forward pass**, shared by the batch (Algorithm 2,
line 6: "sample batch parameter weights"), in training and at inference, hybridized or not
(``F.random.normal_like`` / ``F.Dropout(mode='always')`` inside ``hybrid_forward``):

* ``GaussianDense``: w = mu + sigma * eps, eps ~ N(0, 1) per weight and bias (the
  reparameterisation of the paper's Fig. 2). ``learn_sigma=False`` is SDR-Decay (sigma is not
  back-propagated; ``SDRDecay.update`` moves it); ``learn_sigma=True`` is SDR-Learnable (sigma is
  a trained parameter, clamped by ``clamp_sigma``, Algorithm 3). ``mode='mean'`` computes with mu
  (the original SDR's test-time rule; the paper's adversarial setting samples).
* ``DropConnectDense``: each weight (and bias) kept with probability 1 - p and scaled by
  1 / (1 - p), a fresh mask per pass, at inference too.

The paper calls sigma a variance ("min var", "max var"); we treat the thresholds as bounds on the
standard deviation sigma that scales eps (see README, MNIST section).
"""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from .._checks import fraction_closed_open, non_negative

__all__ = ["GaussianDense", "DropConnectDense", "MLP", "mlp_vanilla", "mlp_sdr_decay",
           "mlp_sdr_learnable", "mlp_dropconnect", "SDRDecay", "clamp_sigma", "set_weight_mode",
           "gaussian_layers"]

HIDDEN = (100, 100, 100)


# ---------------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------------
class GaussianDense(HybridBlock):
    """A dense layer whose weights and biases are N(mu, sigma^2) random variables."""

    stochastic_per_pass = True  # MC samples need separate passes (see sap_mx.mc)

    def __init__(self, units: int, in_units: int, *, learn_sigma: bool, sigma_init: float,
                 mode: str = "sample", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("sample", "mean"):
            raise ValueError(f"mode must be 'sample' or 'mean', got {mode!r}")
        self.units, self.mode = units, mode
        sigma_init = non_negative("sigma_init", sigma_init)
        sigma_req = "write" if learn_sigma else "null"
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(units, in_units),
                                          init=mx.init.Xavier(magnitude=2.0))
            self.bias = self.params.get("bias", shape=(units,), init="zeros")
            self.sigma_weight = self.params.get("sigma_weight", shape=(units, in_units),
                                                init=mx.init.Constant(sigma_init),
                                                grad_req=sigma_req)
            self.sigma_bias = self.params.get("sigma_bias", shape=(units,),
                                              init=mx.init.Constant(sigma_init),
                                              grad_req=sigma_req)

    def hybrid_forward(self, F, x, weight, bias, sigma_weight, sigma_bias):
        if self.mode == "sample":
            weight = weight + sigma_weight * F.random.normal_like(weight)
            bias = bias + sigma_bias * F.random.normal_like(bias)
        else:  # mu; sigma stays in the graph (times 0) so that Gluon sees it used
            weight = weight + 0 * sigma_weight
            bias = bias + 0 * sigma_bias
        return F.FullyConnected(x, weight, bias, num_hidden=self.units, flatten=True)

    def __repr__(self):
        learn = self.sigma_weight.grad_req != "null"
        return (f"GaussianDense({self.units}, learn_sigma={learn}, mode={self.mode!r})")


class DropConnectDense(HybridBlock):
    """A dense layer with DropConnect (Wan et al. 2013): a fresh Bernoulli(1 - p) mask on the
    weights and biases at every pass, kept entries scaled by 1 / (1 - p)."""

    stochastic_per_pass = True

    def __init__(self, units: int, in_units: int, *, p: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.units, self.p = units, fraction_closed_open("p", p)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(units, in_units),
                                          init=mx.init.Xavier(magnitude=2.0))
            self.bias = self.params.get("bias", shape=(units,), init="zeros")

    def hybrid_forward(self, F, x, weight, bias):
        if self.p > 0:
            weight = F.Dropout(weight, p=self.p, mode="always")
            bias = F.Dropout(bias, p=self.p, mode="always")
        return F.FullyConnected(x, weight, bias, num_hidden=self.units, flatten=True)

    def __repr__(self):
        return f"DropConnectDense({self.units}, p={self.p:g})"


# ---------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------
class MLP(HybridBlock):
    """784-100-100-100-10; ``layer(units, in_units)`` builds each dense layer."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        sizes = (784,) + HIDDEN + (10,)
        with self.name_scope():
            self.body = nn.HybridSequential()
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                self.body.add(layer(n_out, n_in))
                if i < len(HIDDEN):
                    self.body.add(nn.Activation("relu"))

    def hybrid_forward(self, F, x):
        return self.body(F.reshape(x, (0, -1)))


def mlp_vanilla(**kwargs) -> MLP:
    return MLP(lambda units, n_in: nn.Dense(units, in_units=n_in,
                                            weight_initializer=mx.init.Xavier(magnitude=2.0)),
               **kwargs)


def mlp_sdr_decay(sigma_init: float = 0.05, mode: str = "sample", **kwargs) -> MLP:
    return MLP(lambda units, n_in: GaussianDense(units, n_in, learn_sigma=False,
                                                 sigma_init=sigma_init, mode=mode), **kwargs)


def mlp_sdr_learnable(sigma_init: float = 0.05, mode: str = "sample", **kwargs) -> MLP:
    return MLP(lambda units, n_in: GaussianDense(units, n_in, learn_sigma=True,
                                                 sigma_init=sigma_init, mode=mode), **kwargs)


def mlp_dropconnect(p: float = 0.2, **kwargs) -> MLP:
    return MLP(lambda units, n_in: DropConnectDense(units, n_in, p=p), **kwargs)


# ---------------------------------------------------------------------------------------------
# SDR training rules
# ---------------------------------------------------------------------------------------------
def gaussian_layers(net) -> list[GaussianDense]:
    from ..blocks import walk

    return [b for b in walk(net) if isinstance(b, GaussianDense)]


class SDRDecay:
    """Algorithm 2's variance rule for every ``GaussianDense`` of ``net`` (call ``step`` after
    each optimiser step):

        sigma <- sigma + beta * |grad|          every batch (equation 1)
        sigma <- zeta * sigma                   every ``tau`` batches (line 9)

    ``grad`` is the gradient of the batch-mean loss with respect to the sampled weights, which
    equals the gradient with respect to mu (w = mu + sigma * eps); pass ``batch_size`` when the
    loss was summed over the batch (Gluon's convention) so that it is rescaled."""

    def __init__(self, net, *, beta: float, zeta: float, tau: int):
        if not 0 < zeta <= 1:
            raise ValueError(f"zeta must be in (0, 1], got {zeta}")
        if int(tau) != tau or tau < 1:
            raise ValueError(f"tau must be a positive integer, got {tau}")
        self.beta, self.zeta, self.tau = non_negative("beta", beta), zeta, int(tau)
        self.layers, self.batches = gaussian_layers(net), 0
        if not self.layers:
            raise ValueError("net has no GaussianDense layer")

    def step(self, batch_size: int = 1) -> None:
        self.batches += 1
        decay = self.zeta if self.batches % self.tau == 0 else 1.0
        for layer in self.layers:
            for mu, sigma in ((layer.weight, layer.sigma_weight), (layer.bias, layer.sigma_bias)):
                grad = mu.grad() / batch_size
                sigma.set_data(decay * (sigma.data() + self.beta * mx.nd.abs(grad)))


def clamp_sigma(net, low: float, high: float) -> None:
    """Algorithm 3: clip every sigma of ``net`` into [low, high]."""
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high, got {low}, {high}")
    for layer in gaussian_layers(net):
        for sigma in (layer.sigma_weight, layer.sigma_bias):
            sigma.set_data(mx.nd.clip(sigma.data(), low, high))


def set_weight_mode(net, mode: str) -> None:
    """'sample' (weights drawn at every pass) or 'mean' (mu) for every ``GaussianDense``."""
    if mode not in ("sample", "mean"):
        raise ValueError(f"mode must be 'sample' or 'mean', got {mode!r}")
    from ..blocks import walk

    for layer in gaussian_layers(net):
        layer.mode = mode

    for block in walk(net):
        if hasattr(block, "_clear_cached_op"):
            block._clear_cached_op()
