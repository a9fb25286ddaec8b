"""The cross-entropy input gradient keeps its direction on confident examples (float32).

MXNet 1.9.1's CPU ``log_softmax`` returns log p_y above 0 past a true-class margin of ~16, which
flipped the sign of d CE / d z_y and made every CE attack push confident images towards more
confidence. The reference here is exact float64 arithmetic without ``1 - p_y``:
with d_k = z_k - z_y and S = sum_{k != y} e^{d_k}, dz_y = -S / (1 + S), dz_k = e^{d_k} / (1 + S).
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

import sap_mx  # noqa: F401 - sets the thread count before MXNet runs
from sap_mx.attacks import LOSSES, input_gradient

CLASSES, FEATURES = 10, 24


def exact_dz(z, y):
    """d CE / d z in float64, direction-exact at any margin."""
    z = np.asarray(z, dtype=np.float64)
    d = z - z[np.arange(len(z)), y][:, None]
    d[np.arange(len(z)), y] = -np.inf
    shift = np.maximum(d.max(axis=1, keepdims=True), 0.0)
    e = np.exp(d - shift)
    s = e.sum(axis=1, keepdims=True)
    dz = e / (np.exp(-shift) + s)
    dz[np.arange(len(z)), y] = -(s / (np.exp(-shift) + s))[:, 0]
    return dz


def exact_ce(z, y):
    z = np.asarray(z, dtype=np.float64)
    d = z - z[np.arange(len(z)), y][:, None]
    d[np.arange(len(z)), y] = -np.inf
    shift = np.maximum(d.max(axis=1), 0.0)
    return shift + np.log1p(np.expm1(-shift) + np.exp(d - shift[:, None]).sum(axis=1))


def margin_of(z, y):
    return z[y] - np.delete(z, y).max()


def confident_linear_model(margins, seed=0):
    """A Dense layer (no bias) and inputs whose true-class margins z_y - max_{k != y} z_k are
    ``margins``: each input is a random one moved along w_y by bisection on the margin."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(CLASSES, FEATURES))
    x = rng.normal(size=(len(margins), FEATURES))
    y = rng.integers(0, CLASSES, size=len(margins))
    for i, m in enumerate(margins):
        lo, hi = -100.0, 100.0
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if margin_of(w @ (x[i] + mid * w[y[i]]), y[i]) < m else (lo, mid)
        x[i] += lo * w[y[i]]
    net = nn.Dense(CLASSES, in_units=FEATURES, use_bias=False)
    net.initialize()
    net.weight.set_data(mx.nd.array(w))
    return net, w.astype(np.float32), x.astype(np.float32), y


MARGINS = [8.0, 12.0, 16.0, 20.0, 25.0, 30.0, 35.0, 40.0]


def test_ce_input_gradient_has_the_exact_sign_at_margins_8_to_40():
    net, w, x, y = confident_linear_model(MARGINS)
    z = (x.astype(np.float64) @ w.T.astype(np.float64))
    margins = z[np.arange(len(y)), y] - np.where(np.eye(CLASSES)[y] > 0, -np.inf, z).max(axis=1)
    np.testing.assert_allclose(margins, MARGINS, atol=0.05)  # the model is as confident as meant
    reference = exact_dz(z, y) @ w.astype(np.float64)        # d CE / d x, exact
    g = input_gradient(net, mx.nd.array(x), mx.nd.array(y), loss="ce").asnumpy()
    for i, m in enumerate(MARGINS):
        big = np.abs(reference[i]) > 1e-3 * np.abs(reference[i]).max()
        assert np.array_equal(np.sign(g[i][big]), np.sign(reference[i][big])), f"margin {m}"
        np.testing.assert_allclose(g[i], reference[i], rtol=2e-3,
                                   atol=2e-3 * np.abs(reference[i]).max(), err_msg=f"margin {m}")


@pytest.mark.parametrize("margin", [16.0, 20.0, 40.0])
def test_ce_logit_gradient_of_the_true_class_is_negative(margin):
    """Nine other logits at 0 and the true one at ``margin``: d CE / d z_y = -S / (1 + S) < 0."""
    z = np.zeros((1, CLASSES), dtype=np.float32)
    z[0, 3] = margin
    net = nn.HybridSequential()
    net.add(nn.Flatten())
    g = input_gradient(net, mx.nd.array(z), mx.nd.array([3]), loss="ce").asnumpy()
    np.testing.assert_allclose(g, exact_dz(z, [3]), rtol=1e-4)
    assert g[0, 3] < 0


def test_ce_value_matches_float64_from_confident_to_badly_wrong():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(9, CLASSES)).astype(np.float32)
    y = np.arange(9) % CLASSES
    for i, m in enumerate([-200.0, -60.0, -5.0, 0.0, 5.0, 16.0, 30.0, 40.0, 80.0]):
        z[i, y[i]] = np.delete(z[i], y[i]).max() + m
    value = LOSSES["ce"](mx.nd.array(z), mx.nd.array(y)).asnumpy()
    ref = exact_ce(z, y)
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-30)
    # and the gradient is finite and exact where the model is badly wrong (no exp overflow)
    net = nn.HybridSequential()
    net.add(nn.Flatten())
    g = input_gradient(net, mx.nd.array(z), mx.nd.array(y), loss="ce").asnumpy()
    np.testing.assert_allclose(g, exact_dz(z, y), rtol=1e-4, atol=1e-30)
