"""rl/qnet.py: the Nature-DQN Q-network, its initialisation and its SAP-defended copy."""
import mxnet as mx
import numpy as np
import pytest

import sap_mx
from rl.qnet import layer_params, nature_qnet, q_graph, space_to_depth
from rl_helpers import params as _params
from sap_mx.blocks import is_relu, walk
from sap_mx.defenses.registry import DefendedActivation


def test_qnet_has_four_relus_that_sap_defends():
    q = nature_qnet(4, seed=1)
    assert sum(is_relu(b) for b in walk(q)) == 4
    defended = sap_mx.defend(q, "sap")
    blocks = [b for b in walk(defended) if isinstance(b, DefendedActivation)]
    assert len(blocks) == 4
    assert all(is_relu(b.act) and isinstance(b.defense, sap_mx.SAP) for b in blocks)
    assert sum(is_relu(b) for b in walk(defended)) == 4  # only inside the defended blocks
    assert sum(is_relu(b) for b in walk(q)) == 4 and not any(
        isinstance(b, DefendedActivation) for b in walk(q))  # the original is untouched
    x = mx.nd.array(np.random.default_rng(0).integers(0, 256, (5, 4, 84, 84)))
    assert q(x).shape == (5, 4) and defended(x).shape == (5, 4)
    with pytest.raises(ValueError):
        nature_qnet(0)
    # weights uniform in +-1/sqrt(fan_in), biases zero
    fan_in = {"1.weight": 4 * 8 * 8, "3.weight": 32 * 4 * 4, "5.weight": 64 * 3 * 3,
              "8.weight": 64 * 7 * 7, "10.weight": 512}
    params = _params(q)
    assert sorted(params) == sorted(list(fan_in) + [k.replace("weight", "bias") for k in fan_in])
    for name, n in fan_in.items():
        bound = 1 / np.sqrt(n)
        w = params[name]
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound, name
        assert abs(w.mean()) < 0.05 * bound and w.std() == pytest.approx(bound / np.sqrt(3),
                                                                           rel=0.1)
        assert not params[name.replace("weight", "bias")].any()
    # same seed, same weights
    a, b = _params(nature_qnet(4, seed=7)), _params(nature_qnet(4, seed=7))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_q_graph_is_the_network_in_both_layouts():
    """``q_graph`` with ``layer_params`` computes NatureQNet's Q-values, also on the
    space-to-depth layout (the first convolution as 2x2/1 on 64 channels); gradients reach the
    (32, 4, 8, 8) weight the same way."""
    q = nature_qnet(5, seed=2)
    p = layer_params(q)
    assert p["conv1_weight"] is q[1].weight and p["fc2_bias"] is q[-1].bias and len(p) == 10
    x = np.random.default_rng(0).integers(0, 256, (3, 4, 84, 84)).astype(np.uint8)
    s2d = space_to_depth(x)
    assert s2d.shape == (3, 64, 21, 21) and s2d.dtype == np.uint8
    # channel c*16 + 4i + j of block (h, w) is pixel (4h + i, 4w + j) of channel c
    assert s2d[1, 2 * 16 + 3 * 4 + 1, 5, 7] == x[1, 2, 4 * 5 + 3, 4 * 7 + 1]
    want = q(mx.nd.array(x)).asnumpy()
    data = {k: v.data() for k, v in p.items()}
    for inputs, flag in ((x, False), (s2d, True)):
        got = q_graph(mx.nd, mx.nd.array(inputs), data, 5, space_to_depth=flag).asnumpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    grads = []
    for inputs, flag in ((x, False), (s2d, True)):
        w = p["conv1_weight"].data().copy()
        w.attach_grad()
        with mx.autograd.record():
            out = q_graph(mx.nd, mx.nd.array(inputs), {**data, "conv1_weight": w}, 5,
                          space_to_depth=flag)
        out.backward(mx.nd.ones_like(out))
        grads.append(w.grad.asnumpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-6 * np.abs(grads[0]).max())
    with pytest.raises(ValueError, match="divisible by 4"):
        space_to_depth(np.zeros((1, 4, 82, 84), np.uint8))
