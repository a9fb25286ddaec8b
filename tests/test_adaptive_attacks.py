"""PGD and APGD with EOT, BPDA for SAP: ball and box, EOT sample counts, equality with plain PGD,
APGD's step-size schedule, strength on a small trained model, the unbounded sanity check."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import sap_mx
from sap_mx.attacks import apgd, apgd_checkpoints, bpda, fgsm, input_gradient, pgd
from sap_mx.data import synthetic_digits
from sap_mx.models import get_model
from test_ce_direction import exact_dz


@pytest.fixture(scope="module")
def trained_mlp():
    """A vanilla MLP trained for a few epochs on generated digits (0..1 pixels)."""
    mx.random.seed(0)
    x, y = synthetic_digits(1200, 0)
    xt, yt = synthetic_digits(100, 1)
    x, xt = x.astype(np.float32) / 255, xt.astype(np.float32) / 255
    net = get_model("mlp_vanilla")
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(4):
        for i in range(0, 1200, 100):
            with autograd.record():
                loss = loss_fn(net(mx.nd.array(x[i:i + 100])), mx.nd.array(y[i:i + 100]))
            loss.backward()
            trainer.step(100)
    acc = (net(mx.nd.array(xt)).asnumpy().argmax(1) == yt).mean()
    assert acc > 0.9
    return net, xt[:60], yt[:60]


def accuracy(net, x, y):
    return float((net(mx.nd.array(x)).asnumpy().argmax(1) == y).mean())


@pytest.mark.parametrize("eps", [0.0, 0.03, 0.1])
def test_pgd_stays_in_the_ball_and_the_box(trained_mlp, eps):
    net, x, y = trained_mlp
    adv = pgd(net, x, y, eps, steps=5, step_size=0.02, clip=(0.0, 1.0)).asnumpy()
    assert np.abs(adv - x).max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_with_one_sample_on_a_dense_model_is_plain_pgd(trained_mlp):
    net, x, y = trained_mlp
    eps, step = 0.1, 0.025
    mx.random.seed(5)
    ours = pgd(net, x, y, eps, steps=6, step_size=step, clip=(0.0, 1.0)).asnumpy()
    # plain PGD written out with autograd, same random start; the cross-entropy's gradient at
    # the logits in exact float64 arithmetic (Gluon's float32 loss flips or zeroes it on
    # confident images, tests/test_ce_direction.py), back through the network
    mx.random.seed(5)
    x0 = mx.nd.array(x)
    xa = mx.nd.clip(x0 + mx.nd.random.uniform(-eps, eps, shape=x0.shape), 0, 1)
    for _ in range(6):
        xa.attach_grad()
        with autograd.record():
            logits = net(xa)
        logits.backward(mx.nd.array(exact_dz(logits.asnumpy(), y)))
        stepped = xa + step * mx.nd.sign(xa.grad)
        xa = mx.nd.clip(mx.nd.minimum(mx.nd.maximum(stepped, x0 - eps), x0 + eps), 0, 1)
    np.testing.assert_allclose(ours, xa.asnumpy(), atol=1e-6)


@pytest.mark.parametrize("attack", ["pgd", "apgd"])
def test_eot_samples_are_what_they_say(trained_mlp, monkeypatch, attack):
    net, x, y = trained_mlp
    import importlib

    pgd_module = importlib.import_module("sap_mx.attacks.pgd")
    calls = []
    real = pgd_module.input_gradient

    def spy(model, xb, yb, *, mc_samples=1, loss="ce", **kw):
        calls.append((mc_samples, loss))
        return real(model, xb, yb, mc_samples=mc_samples, loss=loss, **kw)

    monkeypatch.setattr(pgd_module, "input_gradient", spy)
    if attack == "pgd":
        pgd(net, x[:4], y[:4], 0.1, steps=3, step_size=0.03, mc_samples=7, loss="margin",
            clip=(0, 1))
        assert calls == [(7, "margin")] * 3
    else:
        apgd(net, x[:4], y[:4], 0.1, n_iter=4, mc_samples=5, loss="dlr", clip=(0, 1))
        assert set(calls) == {(5, "dlr")} and len(calls) >= 5


def test_eot_gradient_of_a_stochastic_model_averages_its_passes():
    """input_gradient(mc_samples=k) is the mean of k single-pass gradients: its spread across
    calls shrinks like 1/k."""
    net = get_model("mlp_dropconnect")
    net.initialize()
    x = mx.nd.random.uniform(0, 1, (1, 784))
    y = mx.nd.array([3])
    one = np.stack([input_gradient(net, x, y).asnumpy()[0] for _ in range(60)])
    eight = np.stack([input_gradient(net, x, y, mc_samples=8).asnumpy()[0] for _ in range(30)])
    ratio = one.var(0).sum() / eight.var(0).sum()
    assert 4 < ratio < 16
    np.testing.assert_allclose(eight.mean(0), one.mean(0),
                               atol=4 * np.sqrt(one.var(0) / 60 + eight.var(0) / 30).max())


def test_apgd_checkpoints_match_the_paper_and_autoattack():
    assert apgd_checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(50) == [0, 11, 21, 30, 38, 45]   # AutoAttack's integer gaps


def test_apgd_returns_misclassified_points_where_it_found_them(trained_mlp):
    net, x, y = trained_mlp
    clean_pred = net(mx.nd.array(x)).asnumpy().argmax(1)
    adv, trace = apgd(net, x, y, 0.08, n_iter=15, mc_samples=1, clip=(0, 1), return_trace=True)
    pred = net(adv).asnumpy().argmax(1)
    # every example is either misclassified or, never fooled, at its highest-loss iterate
    ce_loss = -np.log(mx.nd.softmax(net(adv)).asnumpy()[np.arange(len(y)), y])
    for i in range(len(x)):
        if pred[i] == y[i]:
            assert ce_loss[i] == pytest.approx(trace["best_loss"][i, -1], rel=1e-4, abs=1e-5)
    assert (pred != y).sum() >= (clean_pred != y).sum()


def test_apgd_halves_the_step_at_every_checkpoint_when_the_loss_is_flat():
    """A model with constant logits: the loss never rises, so condition 1 holds at every
    checkpoint and eta halves there (and only there)."""
    net = gluon.nn.Dense(10, in_units=6)
    net.initialize(mx.init.Zero())
    x = np.full((3, 6), 0.5, np.float32)
    _, trace = apgd(net, x, np.zeros(3), 0.1, n_iter=100, mc_samples=1, clip=(0, 1),
                    return_trace=True)
    eta = trace["eta"][0]
    halvings = [k for k in range(1, 101) if eta[k] < eta[k - 1]]
    assert halvings == [22, 41, 57, 70, 80, 87, 93, 99]
    assert eta[0] == pytest.approx(0.2) and eta[-1] == pytest.approx(0.2 / 2**8)


def test_apgd_keeps_the_best_loss_and_stays_in_the_ball(trained_mlp):
    net, x, y = trained_mlp
    adv, trace = apgd(net, x, y, 0.05, n_iter=20, mc_samples=1, loss="ce", clip=(0, 1),
                      return_trace=True)
    a = adv.asnumpy()
    assert np.abs(a - x).max() <= 0.05 + 1e-6 and a.min() >= 0 and a.max() <= 1
    best = trace["best_loss"]
    assert np.all(np.diff(best, axis=1) >= -1e-6)  # the best loss never decreases
    assert accuracy(net, a, y) <= accuracy(net, fgsm(net, x, y, 0.05, clip=(0, 1)).asnumpy(), y)


def test_pgd_is_at_least_as_strong_as_fgsm_and_unbounded_reaches_zero(trained_mlp):
    net, x, y = trained_mlp
    for eps in (0.02, 0.05, 0.1, 0.2):
        mx.random.seed(1)
        acc_pgd = accuracy(net, pgd(net, x, y, eps, steps=10, step_size=eps / 4,
                                    clip=(0, 1)).asnumpy(), y)
        acc_fgsm = accuracy(net, fgsm(net, x, y, eps, clip=(0, 1)).asnumpy(), y)
        assert acc_pgd <= acc_fgsm + 1e-9, eps
    unbounded = pgd(net, x, y, 1.0, steps=30, step_size=0.1, clip=(0, 1)).asnumpy()
    assert accuracy(net, unbounded, y) == 0.0


def test_bpda_keeps_the_forward_and_passes_gradients_through_sap():
    """One hidden layer: with the SAP draw s fixed, BPDA's input gradient of the cross-entropy is
    W1^T (1[z1 > 0] * W2^T (softmax(W2 s + b2) - e_y)): SAP's Jacobian replaced by the identity.
    The plain gradient instead vanishes wherever SAP pruned."""
    mx.random.seed(3)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(50, in_units=20), gluon.nn.Activation("relu"),
            gluon.nn.Dense(10, in_units=50))
    net.initialize(mx.init.Normal(0.5))
    sap = sap_mx.defend(net, "sap", frac=0.1)  # 5 draws of 50: most activations pruned
    surrogate = bpda(sap)
    x = mx.nd.random.uniform(0, 1, (3, 20))
    y = np.array([0, 1, 2])
    mx.random.seed(9)
    s_draw = sap[1](sap[0](x)).asnumpy()                # the SAP output of this draw
    mx.random.seed(9)
    g_bpda = input_gradient(surrogate, x, y).asnumpy()
    mx.random.seed(9)
    g_plain = input_gradient(sap, x, y).asnumpy()
    w1, b1 = net[0].weight.data().asnumpy(), net[0].bias.data().asnumpy()
    w2, b2 = net[2].weight.data().asnumpy(), net[2].bias.data().asnumpy()
    z1 = x.asnumpy() @ w1.T + b1
    logits = s_draw @ w2.T + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    upstream = (p - np.eye(10)[y]) @ w2                  # dL/ds
    expected = ((z1 > 0) * upstream) @ w1
    np.testing.assert_allclose(g_bpda, expected, rtol=1e-4, atol=1e-6)
    kept = s_draw != 0
    expected_plain = (kept * (s_draw / np.where(kept, np.maximum(z1, 1e-12), 1)) * upstream) @ w1
    np.testing.assert_allclose(g_plain, expected_plain, rtol=1e-3, atol=1e-6)
    assert not np.allclose(g_bpda, g_plain)
    with pytest.raises(ValueError, match="has no SAP"):
        bpda(net)


# ---------------------------------------------------------------------------------------------
# APGD step by step against AutoAttack's rules, with a scripted gradient oracle
# ---------------------------------------------------------------------------------------------
class ScriptedOracle:
    """Stands in for ``input_gradient``: the c-th call returns the c-th scripted gradient and
    loss (one example, never misclassified) and records the MC samples it was asked for."""

    def __init__(self, grads, losses):
        self.grads, self.losses, self.calls = grads, losses, []

    def __call__(self, net, x, y, *, mc_samples=1, loss="ce", return_loss=False, **kw):
        c = len(self.calls)
        self.calls.append(mc_samples)
        g = mx.nd.array(self.grads[c].reshape(x.shape))
        p = mx.nd.one_hot(mx.nd.array(y), 10)  # the true class: never fooled
        return g, mx.nd.array([self.losses[c]] * x.shape[0]), p


def _run_scripted(monkeypatch, grads, losses, n_iter=100, **kw):
    import sys

    pgd_module = sys.modules["sap_mx.attacks.pgd"]  # the module (.pgd is also the function)
    oracle = ScriptedOracle(grads, losses)
    monkeypatch.setattr(pgd_module, "input_gradient", oracle)
    x0 = np.full((1, 4), 100.0, np.float32)
    kw = {"eps": 8.0, "n_iter": n_iter, "mc_samples": 3, "seed_start": False, **kw}
    adv, trace = apgd(None, x0, np.array([0]), return_trace=True, **kw)
    return oracle, trace, x0[0]


def _reference_step(x, x_prev, g, eta, x0, eps, first=False, alpha=0.75):
    """One APGD step as AutoAttack writes it (autopgd_base.py, L-inf, box 0..255)."""
    def proj(v):
        return np.clip(np.clip(v, x0 - eps, x0 + eps), 0.0, 255.0)
    z = proj(x + eta * np.sign(g))
    a = 1.0 if first else alpha
    return proj(x + a * (z - x) + (1 - a) * (x - x_prev))


def _scripted_grads(count, seed=0):
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(count, 4)) * \
        np.random.default_rng(seed + 1).uniform(0.5, 2, size=(count, 4))


def test_apgd_momentum_is_three_quarters_step_by_step(monkeypatch):
    """Rising losses (no checkpoint halves): every iterate is AutoAttack's x + 0.75 (z - x) +
    0.25 (x - x_prev) (the first step: z). A version with 0.75 and 0.25 swapped fails."""
    grads = _scripted_grads(101)
    oracle, trace, x0 = _run_scripted(monkeypatch, grads, np.arange(101.0))
    xs, eps, eta = trace["x"][0], 8.0, 16.0
    assert np.all(trace["eta"][0] == eta)
    prev, cur = x0, x0
    for k in range(1, 101):
        prev, cur = cur, _reference_step(cur, prev, grads[k - 1], eta, x0, eps, first=k == 1)
        np.testing.assert_allclose(xs[k], cur, rtol=0, atol=1e-4, err_msg=f"iterate {k}")


def test_apgd_moves_to_the_best_point_with_its_gradient_and_keeps_momentum(monkeypatch):
    """The loss peaks at iterate 5 and falls after: at checkpoint 22 condition 1 halves eta and
    the iterate moves to iterate 5, whose stored gradient (not a new evaluation) makes the next
    step, with momentum from iterate 21 (AutoAttack keeps x_adv_old)."""
    grads = _scripted_grads(101, seed=3)
    losses = np.array([0, 1, 2, 3, 4, 50] + [40 - 0.1 * k for k in range(95)], float)
    oracle, trace, x0 = _run_scripted(monkeypatch, grads, losses)
    xs, eta = trace["x"][0], trace["eta"][0]
    assert eta[21] == 16.0 and eta[22] == 8.0              # halved at the checkpoint
    np.testing.assert_array_equal(xs[22], xs[5])           # restarted from the best point
    expected = _reference_step(xs[5], xs[21], grads[5], 8.0, x0, 8.0)
    np.testing.assert_allclose(xs[23], expected, rtol=0, atol=1e-4)
    assert not np.allclose(xs[5], xs[21])                  # the momentum term is not zero
    assert len(oracle.calls) == 101                        # no extra evaluation at the move


def test_apgd_condition_two_halves_when_the_best_loss_stalls(monkeypatch):
    """After a high loss at iterate 3 the loss rises at every step but stays below it: condition
    1 never holds; condition 2 (eta kept at the last checkpoint, best loss unchanged since) is
    off at the first checkpoint (22) and halves at the second (41), then not at 57 (eta was
    just halved). A version ignoring condition 2 never halves."""
    losses = np.array([0, 1, 2, 100] + [10 - 5 / (k + 1) for k in range(97)], float)
    _, trace, _ = _run_scripted(monkeypatch, _scripted_grads(101, seed=5), losses)
    eta = trace["eta"][0]
    halvings = [k for k in range(1, 101) if eta[k] < eta[k - 1]]
    assert halvings[:2] == [41, 70]


@pytest.mark.parametrize("restarts", [1, 3])
def test_apgd_query_count_is_n_iter_plus_start_per_restart_of_mc_samples(monkeypatch, restarts):
    """Each restart evaluates its start point and n_iter iterates (AutoAttack: the same), each
    evaluation the mean of mc_samples passes; an example never fooled is attacked by every
    restart."""
    n_iter = 30
    grads = _scripted_grads((n_iter + 1) * restarts, seed=7)
    losses = np.tile(np.arange(n_iter + 1.0), restarts)
    oracle, _, _ = _run_scripted(monkeypatch, grads, losses, n_iter=n_iter, restarts=restarts,
                                 mc_samples=7)
    assert oracle.calls == [7] * ((n_iter + 1) * restarts)


def test_apgd_restarts_attack_only_what_is_still_robust(trained_mlp):
    net, x, y = trained_mlp
    mx.random.seed(1)
    one = apgd(net, x, y, 0.03, n_iter=10, mc_samples=1, clip=(0, 1))
    mx.random.seed(1)
    three = apgd(net, x, y, 0.03, n_iter=10, mc_samples=1, clip=(0, 1), restarts=3)
    fooled_one = net(one).asnumpy().argmax(1) != y
    fooled_three = net(three).asnumpy().argmax(1) != y
    assert np.all(fooled_three[fooled_one])        # what the first restart fooled stays fooled
    assert fooled_three.sum() >= fooled_one.sum()
    assert np.abs(three.asnumpy() - x).max() <= 0.03 + 1e-6


def test_apgd_condition_two_is_off_at_the_first_checkpoint(monkeypatch):
    """The start point has the highest loss and the iterates' losses rise every step below it:
    condition 1 never holds, the best loss never improves; condition 2 may not halve at the
    first checkpoint (22), only from the second (41) on."""
    losses = np.array([100] + [10 - 5 / (k + 1) for k in range(100)], float)
    _, trace, _ = _run_scripted(monkeypatch, _scripted_grads(101, seed=6), losses)
    eta = trace["eta"][0]
    halvings = [k for k in range(1, 101) if eta[k] < eta[k - 1]]
    assert halvings[0] == 41


def test_apgd_condition_one_halves_at_exactly_three_quarters_of_the_window(monkeypatch):
    """The window 42..57 has 16 steps: 12 rises (0.75 * 16, the bound itself) halve eta at 57,
    13 do not (AutoAttack: rises <= k * 0.75)."""
    def losses(rises):
        f = list(np.arange(42.0))                  # rising through 41: no halving at 22 or 41
        for j in range(16):                        # steps 42..57
            f.append(f[-1] + 1 if j < rises else f[-1] - 1)
        return np.array(f + list(range(100, 143)), float)

    for rises, halved in ((12, True), (13, False)):
        _, trace, _ = _run_scripted(monkeypatch, _scripted_grads(101, seed=8), losses(rises))
        eta = trace["eta"][0]
        assert eta[41] == eta[40] == 16.0
        assert (eta[57] < eta[56]) == halved, rises
