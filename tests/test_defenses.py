"""defend() and every registered defense: trivial settings, randomness, laws, non-interference."""
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

import sap_mx
from sap_mx.blocks import is_relu, walk
from sap_mx.defenses import DEFENSES, DefendedActivation, stochastic_per_pass
from sap_mx.defenses.activation import RNA, RSA, DropoutAtTest

TRIVIAL = {"dropout": {"rate": 0.0}, "rna": {"sigma": 0.0}, "rsa": {"sigma": 0.0},
           "rnw": {"sigma": 0.0}, "rsw": {"sigma": 0.0}, "dwp": {"keep": 1.0}}
WORKING = {"sap": {"frac": 1.0}, "dropout": {"rate": 0.3}, "rna": {"sigma": 0.5},
           "rsa": {"sigma": 0.5}, "rnw": {"sigma": 0.05}, "rsw": {"sigma": 0.3},
           "dwp": {"keep": 0.5}, "swp": {"frac": 1.0}}


def test_registry_names():
    assert sorted(DEFENSES) == ["dropout", "dwp", "rna", "rnw", "rsa", "rsw", "sap", "swp"]
    assert set(WORKING) == set(DEFENSES)


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("name", sorted(TRIVIAL))
def test_trivial_setting_equals_dense(cnn, images, name, hybridize):
    if hybridize:
        cnn.hybridize()
    x, _ = images
    defended = sap_mx.defend(cnn, name, **TRIVIAL[name])
    np.testing.assert_allclose(defended(x).asnumpy(), cnn(x).asnumpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("name", sorted(WORKING))
def test_working_setting_is_stochastic_except_dwp(cnn, images, name, hybridize):
    if hybridize:
        cnn.hybridize()
    x, _ = images
    defended = sap_mx.defend(cnn, name, **WORKING[name])
    with mx.autograd.predict_mode():
        a, b = defended(x).asnumpy(), defended(x).asnumpy()
    assert not np.allclose(a, cnn(x).asnumpy())
    if name == "dwp":
        np.testing.assert_array_equal(a, b)
    else:
        assert not np.array_equal(a, b)


@pytest.mark.parametrize("name", sorted(WORKING))
def test_defend_leaves_the_original_untouched(cnn, images, name):
    x, _ = images
    before = cnn(x).asnumpy()
    children = list(cnn._children.values())
    params = cnn.collect_params()
    defended = sap_mx.defend(cnn, name, **WORKING[name])
    defended(x)
    np.testing.assert_array_equal(cnn(x).asnumpy(), before)
    assert list(cnn._children.values()) == children
    assert not any(isinstance(b, DefendedActivation) for b in walk(cnn))
    # same Parameter objects, same names: training one trains the other
    dparams = defended.collect_params()
    assert list(dparams.keys()) == list(params.keys())
    assert all(dparams[k] is params[k] for k in params.keys())


def test_defend_shares_updates(cnn, images):
    x, _ = images
    defended = sap_mx.defend(cnn, "dwp", keep=1.0)
    w = cnn[-1].weight
    w.set_data(w.data() * 2)
    np.testing.assert_allclose(defended(x).asnumpy(), cnn(x).asnumpy(), rtol=1e-5, atol=1e-4)


def test_activation_defenses_reach_every_relu(cnn):
    relus = sum(is_relu(b) for b in walk(cnn))
    assert relus == 3  # Conv2D(activation='relu'), Activation('relu'), Dense(activation='relu')
    defended = sap_mx.defend(cnn, "sap")
    assert sum(isinstance(b, DefendedActivation) for b in walk(defended)) == 3


def test_resnet20_gets_sap_after_all_19_relus():
    net = sap_mx.models.resnet20()
    defended = sap_mx.defend(net, "sap", frac=1.0)
    assert sum(isinstance(b, DefendedActivation) for b in walk(defended)) == 19


def test_model_without_relu_blocks_is_refused():
    class Functional(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = nn.Dense(3, in_units=4)

        def hybrid_forward(self, F, x):
            return F.relu(self.dense(x))

    with pytest.raises(ValueError, match="found no nn.Activation"):
        sap_mx.defend(Functional(), "sap")


def test_defended_hybridized_model_is_hybridized_and_stochastic(cnn, images):
    cnn.hybridize(static_alloc=True)
    defended = sap_mx.defend(cnn, "sap")
    assert defended._active
    x, _ = images
    with mx.autograd.predict_mode():
        assert not np.array_equal(defended(x).asnumpy(), defended(x).asnumpy())


def test_stochastic_per_pass_flags_weight_noise_only(cnn):
    assert stochastic_per_pass(sap_mx.defend(cnn, "rnw", sigma=0.1))
    assert stochastic_per_pass(sap_mx.defend(cnn, "rsw", sigma=0.1))
    assert stochastic_per_pass(sap_mx.defend(cnn, "swp", frac=1.0))
    assert not stochastic_per_pass(sap_mx.defend(cnn, "dwp", keep=0.5))
    assert not stochastic_per_pass(sap_mx.defend(cnn, "sap"))
    assert not stochastic_per_pass(cnn)


# ---------------------------------------------------------------------------------------------
# the laws, measured through a layer whose effective weight can be read back
# ---------------------------------------------------------------------------------------------
def effective_weight(layer_factory, name, **params):
    """W' used by a defended Dense(64 -> 64) layer: its output on the identity matrix."""
    layer = layer_factory()
    defended = sap_mx.defend(layer, name, **params)
    eye = mx.nd.eye(64)
    return layer.weight.data().asnumpy(), (defended(eye) - layer.bias.data()).asnumpy().T


def dense_layer():
    layer = nn.Dense(64, in_units=64)
    layer.initialize(mx.init.Normal(1.0))
    layer.bias.set_data(mx.nd.random.normal(0, 1, (64,)))
    return layer


def test_rnw_adds_gaussian_noise_to_weights():
    w, w_eff = effective_weight(dense_layer, "rnw", sigma=0.2)
    noise = (w_eff - w).ravel()
    assert abs(noise.mean()) < 4 * 0.2 / 64
    assert abs(noise.std() - 0.2) < 0.01


def test_rsw_scales_weights_by_gaussian_noise():
    w, w_eff = effective_weight(dense_layer, "rsw", sigma=0.3)
    eta = (w_eff / w).ravel()
    assert abs(eta.mean() - 1) < 4 * 0.3 / 64
    assert abs(eta.std() - 0.3) < 0.015


@pytest.mark.parametrize("keep", [0.1, 0.5, 1.0])
def test_dwp_keeps_the_top_fraction_by_magnitude(keep):
    w, w_eff = effective_weight(dense_layer, "dwp", keep=keep)
    k = max(1, int(keep * w.size))
    threshold = np.sort(np.abs(w).ravel())[::-1][k - 1]
    expected = np.where(np.abs(w) >= threshold, w, 0)
    np.testing.assert_allclose(w_eff, expected, atol=1e-5)
    assert (w_eff != 0).sum() == k


def test_swp_is_sap_on_the_weight_tensor():
    w, w_eff = effective_weight(dense_layer, "swp", frac=1.0)
    p = np.abs(w.astype(np.float64)) / np.abs(w).sum()
    kept = w_eff != 0
    scale = 1 / (1 - (1 - p) ** w.size)
    np.testing.assert_allclose(w_eff[kept], (w * scale)[kept], rtol=1e-4, atol=1e-6)
    # SAP-100 on 4096 entries keeps sum_j 1 - (1 - p_j)^r of them on average
    expected = (1 - (1 - p) ** w.size).sum()
    assert abs(kept.sum() - expected) < 5 * np.sqrt(expected)


def test_biases_are_left_alone():
    layer = dense_layer()
    defended = sap_mx.defend(layer, "rnw", sigma=1.0)
    out = defended(mx.nd.zeros((1, 64))).asnumpy()
    np.testing.assert_allclose(out[0], layer.bias.data().asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("hybridize", [False, True])
def test_dropout_at_test_law(hybridize):
    """Keep with probability 1 - rate, scale by 1 / (1 - rate), at inference and hybridized;
    backward is the same mask; each call draws anew."""
    block = DropoutAtTest(0.3)
    if hybridize:
        block.hybridize()
    x = mx.nd.ones((200, 500))
    x.attach_grad()
    with mx.autograd.record(train_mode=False):
        out = block(x)
    out.backward()
    out, grad = out.asnumpy(), x.grad.asnumpy()
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(grad, out)  # d(mask * x / 0.7)/dx = mask / 0.7 = out at x = 1
    with mx.autograd.predict_mode():
        again = block(x).asnumpy()
    assert abs((again != 0).mean() - 0.7) < 0.005 and not np.array_equal(again != 0, kept)


def test_rna_and_rsa_laws():
    x = mx.nd.full((200, 500), 2.0)
    noise = (RNA(0.5)(x) - x).asnumpy()
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.5) < 0.005
    eta = (RSA(0.5)(x) / x).asnumpy()
    assert abs(eta.mean() - 1) < 0.005 and abs(eta.std() - 0.5) < 0.005


def test_dwp_count_uses_floor_of_keep_times_m_in_double():
    layer = nn.Dense(9, in_units=10)  # m = 90 weights: 0.7 * 90 = 62.99999999999999 -> 62
    layer.initialize(mx.init.Normal(1.0))
    defended = sap_mx.defend(layer, "dwp", keep=0.7)
    w_eff = (defended(mx.nd.eye(10)) - layer.bias.data()).asnumpy()
    assert (w_eff != 0).sum() == int(0.7 * 90) == 62


def test_weight_defenses_compose_in_order():
    layer = dense_layer()
    once = sap_mx.defend(layer, "dwp", keep=0.25)
    twice = sap_mx.defend(once, "rsw", sigma=0.0)
    eye = mx.nd.eye(64)
    np.testing.assert_allclose(twice(eye).asnumpy(), once(eye).asnumpy(), rtol=1e-6)
    assert not np.allclose(once(eye).asnumpy(), layer(eye).asnumpy())
    assert "dwp(keep=0.25) then rsw(sigma=0)" in repr(twice)


def test_activation_defenses_compose_in_order():
    net = nn.HybridSequential()
    net.add(nn.Dense(200, in_units=10), nn.Activation("relu"))
    net.initialize()
    x = mx.nd.random.normal(0, 1, (50, 10))
    once = sap_mx.defend(net, "rna", sigma=0.0)
    twice = sap_mx.defend(once, "dropout", rate=0.9)
    dense_on = (net(x).asnumpy() > 0).mean()
    twice_on = (twice(x).asnumpy() > 0).mean()
    assert abs(twice_on - 0.1 * dense_on) < 0.02
    assert sum(isinstance(b, DefendedActivation) for b in walk(twice)) == 2


def test_clone_remaps_children_held_in_containers():
    class Listed(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.a = nn.Activation("relu")
            self.b = nn.Dense(4, in_units=3)
            self.order = [self.b, self.a]

        def hybrid_forward(self, F, x):
            for layer in self.order:
                x = layer(x)
            return x

    net = Listed()
    net.initialize()
    defended = sap_mx.defend(net, "rna", sigma=5.0)
    x = mx.nd.ones((2, 3))
    assert isinstance(defended.order[1], DefendedActivation)
    assert not np.allclose(defended(x).asnumpy(), net(x).asnumpy())
