"""rl/evaluate.py: FGSM on the Q-network (dense and SAP-100), the attacked action, mean Q and
the evaluation guards."""
import mxnet as mx
import numpy as np
import pytest

import sap_mx
from rl import ddqn, evaluate
from rl.qnet import nature_qnet
from sap_mx.attacks import fgsm, fgsm_step, input_gradient


# ---------------------------------------------------------------------------------------------
# FGSM on the Q-network
# ---------------------------------------------------------------------------------------------
def _observations(n=3, seed=0):
    x = np.random.default_rng(seed).integers(0, 256, (n, 4, 84, 84)).astype(np.uint8)
    x[:, :, :6] = 0      # saturated pixels at both ends: clipping matters
    x[:, :, -6:] = 255
    return x


@pytest.fixture(scope="module")
def qnets():
    net = nature_qnet(6, seed=0)
    net.hybridize()
    return net, sap_mx.defend(net, "sap", frac=1.0)


def test_fgsm_on_the_qnet_stays_within_lambda_and_pixels(qnets):
    net, sap = qnets
    x = _observations()
    X = mx.nd.array(x, dtype="float32")
    ce = lambda q, y: -mx.nd.pick(mx.nd.log_softmax(q), y, axis=1)  # noqa: E731
    for model, mc in ((net, 1), (sap, 4)):
        label = evaluate.mean_q(model, X, mc).argmax(axis=1)
        g = input_gradient(model, X, label, mc_samples=mc).asnumpy()
        assert (g != 0).mean() > 0.99
        for lam in (1, 2, 4, 8):
            adv = fgsm_step(X, mx.nd.array(g), lam, clip=(0.0, 255.0)).asnumpy()
            d = adv - x
            assert np.abs(d).max() <= lam and adv.min() >= 0 and adv.max() <= 255
            room = (x + lam * np.sign(g) >= 0) & (x + lam * np.sign(g) <= 255) & (g != 0)
            assert room.mean() > 0.85
            assert (np.abs(d[room]) == lam).all()
            np.testing.assert_array_equal(np.sign(d[room]), np.sign(g[room]))
            clipped = ~room & (g != 0)
            assert clipped.any() and np.isin(adv[clipped], (0.0, 255.0)).all()
            if model is net:
                np.testing.assert_array_equal(fgsm(net, X, label, lam).asnumpy(), adv)
                if lam == 8:  # the step goes up the loss
                    assert (ce(net(mx.nd.array(adv)), label) > ce(net(X), label)).asnumpy().all()


def test_attacked_action_and_mean_q(qnets):
    net, sap = qnets
    x = _observations(4, seed=1)
    X = mx.nd.array(x, dtype="float32")
    greedy = net(X).argmax(axis=1).asnumpy().astype(int)
    for i in range(4):
        assert evaluate.attacked_action(net, x[i], 0, 1) == greedy[i]
    # lambda > 0: the greedy action on FGSM(x) with the clean greedy action as the label
    attacked = []
    for i in range(4):
        adv = fgsm(net, X[i:i + 1], mx.nd.array([greedy[i]]), 8.0)
        attacked.append(evaluate.attacked_action(net, x[i], 8, 1))
        assert attacked[-1] == int(net(adv).argmax(axis=1).asscalar())
    assert attacked != greedy.tolist()  # the attack changes some decisions
    q = net(X).asnumpy()
    for mc in (1, 3, 7):
        np.testing.assert_allclose(evaluate.mean_q(net, X, mc).asnumpy(), q, rtol=1e-5, atol=1e-7)
    a, b = evaluate.mean_q(sap, X, 2).asnumpy(), evaluate.mean_q(sap, X, 2).asnumpy()
    assert a.shape == (4, 6) and not np.array_equal(a, b)
    # SAP averaged over many passes is closer to the dense Q than one pass is
    many = evaluate.mean_q(sap, X, 64).asnumpy()
    assert np.abs(many - q).mean() < np.abs(evaluate.mean_q(sap, X, 1).asnumpy() - q).mean()


# ---------------------------------------------------------------------------------------------
# evaluation guards
# ---------------------------------------------------------------------------------------------
def test_evaluation_refuses_another_games_agent_or_missing_weights(tmp_path):
    run = tmp_path / "run"
    ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=40, out=str(run), progress=False))
    with pytest.raises(ddqn.UsageError, match="holds a Bowling agent, not Pong"):
        evaluate.evaluate(evaluate.EvalArgs(game="Pong", profile="smoke", run=str(run),
                                            progress=False))
    (run / "final.params").unlink()
    with pytest.raises(ddqn.UsageError, match="not final.params"):
        evaluate.evaluate(evaluate.EvalArgs(game="Bowling", profile="smoke", run=str(run),
                                            progress=False))
