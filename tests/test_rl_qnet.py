"""rl/qnet.py: the Nature-DQN Q-network, its initialisation and its SAP-defended copy."""
import mxnet as mx
import numpy as np
import pytest

import sap_mx
from rl.qnet import nature_qnet
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
