"""The MNIST MLPs: shapes, stochasticity at inference and after hybridize, SDR-Decay's variance
rule on a hand-made gradient, SDR-Learnable's gradient to sigma and its clamp, DropConnect."""
import mxnet as mx
import numpy as np
import pytest

import sap_mx
from sap_mx.models import get_model
from sap_mx.models.mlp import (DropConnectDense, GaussianDense, SDRDecay, clamp_sigma,
                               gaussian_layers, set_weight_mode)

KINDS = ["mlp_vanilla", "mlp_sdr_decay", "mlp_sdr_learnable", "mlp_dropconnect"]


def built(kind, seed=0, **kw):
    mx.random.seed(seed)
    net = get_model(kind, **kw)
    net.initialize()
    return net


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_inference_randomness(kind, hybridize):
    net = built(kind)
    if hybridize:
        net.hybridize()
    x = mx.nd.random.uniform(0, 1, (5, 28, 28))
    with mx.autograd.predict_mode():
        a, b = net(x).asnumpy(), net(x).asnumpy()
    assert a.shape == (5, 10)
    if kind == "mlp_vanilla":
        np.testing.assert_array_equal(a, b)
    else:
        assert not np.allclose(a, b)  # stochastic at inference, hybridized or not
    relus = sum(sap_mx.blocks.is_relu(block) for block in sap_mx.blocks.walk(net))
    assert relus == 3


def test_gaussian_dense_law_and_mean_mode():
    layer = GaussianDense(200, 300, learn_sigma=False, sigma_init=0.3)
    layer.initialize()
    layer.hybridize()
    x = mx.nd.zeros((1, 300))
    x[0, 0] = 1.0  # output j = w[j, 0] + b[j]: a sum of two N(mu, .3^2) draws
    mu = layer.weight.data()[:, 0] + layer.bias.data()
    out = np.stack([layer(x).asnumpy()[0] for _ in range(200)])
    dev = out - mu.asnumpy()
    assert abs(dev.mean()) < 0.01 and abs(dev.std() - 0.3 * np.sqrt(2)) < 0.01
    # one sample per pass, shared by the batch
    two = layer(mx.nd.concat(x, x, dim=0)).asnumpy()
    np.testing.assert_array_equal(two[0], two[1])
    net = built("mlp_sdr_decay", sigma_init=0.3)
    net.hybridize()
    set_weight_mode(net, "mean")
    xb = mx.nd.random.uniform(0, 1, (3, 784))
    np.testing.assert_array_equal(net(xb).asnumpy(), net(xb).asnumpy())
    set_weight_mode(net, "sample")
    assert not np.array_equal(net(xb).asnumpy(), net(xb).asnumpy())


def test_sdr_decay_sigma_rule_on_a_hand_made_gradient():
    net = built("mlp_sdr_decay", sigma_init=0.1)
    rule = SDRDecay(net, beta=0.5, zeta=0.8, tau=2)
    layer = gaussian_layers(net)[0]
    assert layer.sigma_weight.grad_req == "null"  # not back-propagated
    grad = np.full(layer.weight.shape, -0.2, np.float32)
    grad[0, 0] = 0.4
    for p in net.collect_params().values():
        if p.grad_req != "null":
            p.grad()[:] = 0
    layer.weight.grad()[:] = mx.nd.array(grad) * 4  # a summed loss over a batch of 4
    rule.step(batch_size=4)   # batch 1: sigma + beta |g|, no decay
    s1 = layer.sigma_weight.data().asnumpy()
    np.testing.assert_allclose(s1[0, 0], 0.1 + 0.5 * 0.4, rtol=1e-6)
    np.testing.assert_allclose(s1[1, 1], 0.1 + 0.5 * 0.2, rtol=1e-6)
    rule.step(batch_size=4)   # batch 2 (tau = 2): zeta * (sigma + beta |g|)
    s2 = layer.sigma_weight.data().asnumpy()
    np.testing.assert_allclose(s2[0, 0], 0.8 * (0.3 + 0.2), rtol=1e-6)
    np.testing.assert_allclose(s2[1, 1], 0.8 * (0.2 + 0.1), rtol=1e-6)
    np.testing.assert_allclose(layer.sigma_bias.data().asnumpy(), 0.8 * 0.1, rtol=1e-6)


def test_sdr_learnable_gradient_reaches_sigma_and_the_clamp_holds():
    net = built("mlp_sdr_learnable", sigma_init=0.2)
    layer = gaussian_layers(net)[0]
    assert layer.sigma_weight.grad_req == "write"
    x = mx.nd.random.uniform(0, 1, (8, 784))
    y = mx.nd.array(np.arange(8) % 10)
    with mx.autograd.record():
        loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y).sum()
    loss.backward()
    assert float(mx.nd.abs(layer.sigma_weight.grad()).sum().asscalar()) > 0
    layer.sigma_weight.set_data(mx.nd.random.uniform(-1, 2, layer.sigma_weight.shape))
    clamp_sigma(net, 0.05, 0.5)
    s = layer.sigma_weight.data().asnumpy()
    assert s.min() == pytest.approx(0.05) and s.max() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="need 0 <= low <= high"):
        clamp_sigma(net, 0.5, 0.1)


def test_dropconnect_mask_rate_and_scale_at_inference():
    layer = DropConnectDense(400, 500, p=0.2)
    layer.initialize()
    layer.weight.set_data(mx.nd.ones(layer.weight.shape))  # biases stay 0
    layer.hybridize()
    x = mx.nd.zeros((1, 500))
    x[0, 3] = 1.0   # output j = mask[j, 3] / 0.8
    with mx.autograd.predict_mode():
        outs = np.stack([layer(x).asnumpy()[0] for _ in range(50)])
    kept = outs != 0
    assert abs(kept.mean() - 0.8) < 0.01
    np.testing.assert_allclose(outs[kept], 1 / 0.8, rtol=1e-6)
    assert not np.array_equal(kept[0], kept[1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(beta=-1, zeta=0.5, tau=1), "beta"),
    (dict(beta=0.1, zeta=0.0, tau=1), "zeta must be in"),
    (dict(beta=0.1, zeta=0.5, tau=0), "tau must be a positive integer"),
])
def test_sdr_decay_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SDRDecay(built("mlp_sdr_decay"), **kwargs)
    with pytest.raises(ValueError, match="no GaussianDense"):
        SDRDecay(built("mlp_vanilla"), beta=0.1, zeta=0.5, tau=1)
