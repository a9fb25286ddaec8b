"""FGSM (minimal eps), DeepFool, LocalSearch and the EOT wrapper on tiny models with known
answers."""
import gc
import importlib
import weakref

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import HybridBlock, nn

from sap_mx.attacks import EOT, deepfool, fgsm_minimal, input_gradient, local_search
from sap_mx.models import get_model


def linear(n_in=20, classes=10, seed=0):
    mx.random.seed(seed)
    net = nn.Dense(classes, in_units=n_in)
    net.initialize(mx.init.Normal(1.0))
    net.bias.set_data(mx.nd.random.normal(0, 1, (classes,)))
    return net


def test_deepfool_one_step_is_the_closed_form_minimal_perturbation_of_a_linear_model():
    net = linear()
    w, b = net.weight.data().asnumpy(), net.bias.data().asnumpy()
    x = np.random.default_rng(0).normal(0, 1, (6, 20)).astype(np.float32)
    f = x @ w.T + b
    labels = f.argmax(1)
    adv = deepfool(net, x, labels, steps=1, overshoot=0.02, clip=(-1e3, 1e3)).asnumpy()
    for i in range(len(x)):
        lab = labels[i]
        others = [k for k in range(10) if k != lab]
        dist = [abs(f[i, k] - f[i, lab]) / np.linalg.norm(w[k] - w[lab]) for k in others]
        k = others[int(np.argmin(dist))]
        wk = w[k] - w[lab]
        expected = x[i] + 1.02 * (abs(f[i, k] - f[i, lab]) + 1e-4) / (wk @ wk) * wk
        np.testing.assert_allclose(adv[i], expected, rtol=1e-4, atol=1e-5)
        assert (adv[i] @ w.T + b).argmax() == k   # crosses exactly that boundary
        # and the L2 size is the distance to it, times 1 + overshoot
        assert np.linalg.norm(adv[i] - x[i]) == pytest.approx(1.02 * min(dist), rel=1e-3)


def test_deepfool_stays_in_the_box_and_fools_a_small_mlp():
    net = get_model("mlp_vanilla")
    mx.random.seed(1)
    net.initialize()
    x = np.random.default_rng(1).uniform(0, 1, (8, 28, 28)).astype(np.float32)
    labels = net(mx.nd.array(x)).asnumpy().argmax(1)
    adv = deepfool(net, x, labels, clip=(0, 1)).asnumpy()
    assert adv.min() >= 0 and adv.max() <= 1
    assert (net(mx.nd.array(adv)).asnumpy().argmax(1) != labels).mean() >= 0.75


def test_deepfool_class_count_survives_id_reuse(monkeypatch):
    """The class count is cached per view. An id() is reused once its object is collected, so a
    cache keyed on ids hands a new view a dead one's count; every object is given the same id
    here, as a view created right after another was collected can get."""
    df = importlib.import_module("sap_mx.attacks.deepfool")
    monkeypatch.setattr(df, "_CLASSES", type(df._CLASSES)())
    monkeypatch.setattr(df, "id", lambda obj: 1, raising=False)
    sample = np.zeros((1, 20), np.float32)
    ten = linear(classes=10)
    assert df._n_classes(ten, sample) == 10
    del ten
    gc.collect()
    three = linear(classes=3)
    assert df._n_classes(three, sample) == 3
    gone = weakref.ref(three)
    del three
    gc.collect()
    assert gone() is None  # the cache does not keep a view alive


def test_fgsm_minimal_finds_the_first_grid_eps_that_crosses_a_linear_boundary():
    net = linear(n_in=12, classes=2, seed=3)
    w, b = net.weight.data().asnumpy(), net.bias.data().asnumpy()
    x = np.random.default_rng(2).uniform(0.3, 0.7, (5, 12)).astype(np.float32)
    labels = (x @ w.T + b).argmax(1)
    adv, eps = fgsm_minimal(net, x, labels, epsilons=1000, max_epsilon=10.0, clip=(-1e3, 1e3))
    for i in range(5):
        lab, o = labels[i], 1 - labels[i]
        margin = (x[i] @ w[lab] + b[lab]) - (x[i] @ w[o] + b[o])
        needed = margin / np.abs(w[lab] - w[o]).sum()         # the L1 dual norm of the boundary
        grid = 10.0 * np.arange(1, 1001) / 1000
        expected = grid[np.searchsorted(grid, needed * (1 - 1e-6))]
        assert eps[i] == pytest.approx(expected, rel=1e-6)
        assert (adv.asnumpy()[i] @ w.T + b).argmax() == o
    # a model nothing on the grid fools: inf, clean image back
    adv, eps = fgsm_minimal(net, x, labels, epsilons=10, max_epsilon=1e-6, clip=(-1e3, 1e3))
    assert np.isinf(eps).all() and np.array_equal(adv.asnumpy(), x)


def test_fgsm_minimal_respects_the_box():
    net = linear(n_in=12, classes=2, seed=4)
    x = np.random.default_rng(5).uniform(0, 1, (6, 12)).astype(np.float32)
    labels = net(mx.nd.array(x)).asnumpy().argmax(1)
    adv, eps = fgsm_minimal(net, x, labels, epsilons=100, max_epsilon=1.0, clip=(0, 1))
    a = adv.asnumpy()
    assert a.min() >= 0 and a.max() <= 1
    finite = np.isfinite(eps)
    assert np.all(np.abs(a[finite] - x[finite]).max(axis=1) <= eps[finite] + 1e-6)


class MeanThreshold(HybridBlock):
    """Class 1 when the mean pixel exceeds 0.05: LocalSearch must raise a few pixels."""

    def hybrid_forward(self, F, x):
        m = F.mean(F.reshape(x, (0, -1)), axis=1, keepdims=True)
        return F.concat(F.zeros_like(m), 200 * (m - 0.05), dim=1)


def test_local_search_queries_only_outputs_within_bounds_and_succeeds():
    model = MeanThreshold()
    queries = []

    def predict(batch):
        assert not mx.autograd.is_recording()
        assert isinstance(batch, np.ndarray)
        queries.append(batch.copy())
        return mx.nd.softmax(model(mx.nd.array(batch)), axis=-1).asnumpy()

    image = np.zeros((8, 8), np.float32)
    adv = local_search(predict, image, 0, rng=np.random.default_rng(0))
    assert adv is not None and adv.shape == (8, 8)
    assert predict(adv[None]).argmax() == 1
    every = np.concatenate([q.reshape(-1) for q in queries])
    assert every.min() >= 0 and every.max() <= 1          # every query is a valid image
    assert adv.min() >= 0 and adv.max() <= 1
    changed = (adv != image).sum()
    assert 0 < changed <= 5 * 3                           # t pixels per round, few rounds


class PixelDetector(HybridBlock):
    """Class 1 when pixel (2, 3) is dark: only that pixel matters."""

    def hybrid_forward(self, F, x):
        v = F.slice(F.reshape(x, (0, -1)), begin=(None, 2 * 6 + 3), end=(None, 2 * 6 + 4))
        return F.concat(20 * (v - 0.1), F.zeros_like(v), dim=1)


def test_local_search_scores_probes_and_finds_the_pixel_that_matters():
    model = PixelDetector()

    def predict(batch):
        return mx.nd.softmax(model(mx.nd.array(batch)), axis=-1).asnumpy()

    image = np.random.default_rng(3).uniform(0.3, 0.9, (6, 6)).astype(np.float32)
    assert predict(image[None]).argmax() == 0
    adv = local_search(predict, image, 0, t=1, rounds=10, rng=np.random.default_rng(4))
    assert adv is not None and predict(adv[None]).argmax() == 1
    changed = np.argwhere(adv != image).tolist()
    # round 1 searches a random 10% of the pixels (maybe without (2, 3)); from then on the
    # neighbourhoods hold it and the scores pick it every round: one other pixel at most
    assert [2, 3] in changed and len(changed) <= 2


def test_local_search_gives_up_after_r_rounds():
    calls = []

    def predict(batch):
        calls.append(len(batch))
        out = np.zeros((len(batch), 2))
        out[:, 0] = 1  # never fooled
        return out

    assert local_search(predict, np.zeros((3, 6, 6)), 0, rounds=4,
                        rng=np.random.default_rng(1)) is None
    assert len(calls) == 2 * 4                              # probes + check per round


def test_eot_of_a_deterministic_model_changes_nothing():
    net = get_model("mlp_vanilla")
    net.initialize()
    x = mx.nd.random.uniform(0, 1, (4, 784))
    y = mx.nd.array([0, 1, 2, 3])
    wrapped = EOT(net, 5)
    np.testing.assert_allclose(mx.nd.softmax(wrapped(x)).asnumpy(),
                               mx.nd.softmax(net(x)).asnumpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(input_gradient(wrapped, x, y).asnumpy(),
                               input_gradient(net, x, y).asnumpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("hybridize", [False, True])
def test_eot_averages_passes(hybridize):
    from sap_mx.models.mlp import GaussianDense

    net = GaussianDense(10, 784, learn_sigma=True, sigma_init=0.05)  # one stochastic layer
    net.initialize()
    wrapped = EOT(net, 16)
    if hybridize:
        wrapped.hybridize()
    x = mx.nd.random.uniform(0, 1, (1, 784))
    single = np.stack([mx.nd.softmax(net(x)).asnumpy()[0] for _ in range(160)])
    averaged = np.stack([mx.nd.softmax(wrapped(x)).asnumpy()[0] for _ in range(40)])
    se = np.sqrt(single.var(0) / len(single) + averaged.var(0) / len(averaged))
    assert np.all(np.abs(averaged.mean(0) - single.mean(0)) < 4 * se + 1e-6)  # same expectation
    ratio = single.var(0).sum() / averaged.var(0).sum()
    assert 8 < ratio < 32   # variance of a mean of 16 independent passes: 1/16


@pytest.mark.parametrize("kind", ["mlp_sdr_learnable", "mlp_dropconnect"])
def test_deepfool_jacobian_tiles_share_one_draw(kind):
    """The class gradients of one DeepFool step come from one stochastic pass: asking for the
    same class twice gives the same gradient (two passes would differ)."""
    from sap_mx.attacks.deepfool import _logits_and_jacobian
    from sap_mx.attacks.gradients import gradient_view

    net = get_model(kind)
    net.initialize()
    net.hybridize()
    x = mx.nd.random.uniform(0, 1, (3, 784))
    _, jac = _logits_and_jacobian(gradient_view(net), x, np.array([[4, 4]] * 3))
    np.testing.assert_array_equal(jac[0], jac[1])
    _, other = _logits_and_jacobian(gradient_view(net), x, np.array([[4, 4]] * 3))
    assert not np.array_equal(jac[0], other[0])  # a new step draws anew


def test_deepfool_reports_its_own_verdict():
    net = linear()
    x = np.random.default_rng(0).normal(0, 1, (6, 20)).astype(np.float32)
    labels = net(mx.nd.array(x)).asnumpy().argmax(1)
    adv, fooled = deepfool(net, x, labels, steps=5, clip=(-1e3, 1e3), return_fooled=True)
    assert fooled.all()
    np.testing.assert_array_equal(net(adv).asnumpy().argmax(1) != labels, fooled)
    net.weight.set_data(mx.nd.zeros(net.weight.shape))  # no gradient: nothing can move
    labels = net(mx.nd.array(x)).asnumpy().argmax(1)
    _, none = deepfool(net, x, labels, steps=3, clip=(-1e3, 1e3), return_fooled=True)
    assert not none.any()
