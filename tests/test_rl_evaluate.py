"""rl/evaluate.py: FGSM on the Q-network (dense and SAP-100), the attacked action, mean Q, the
evaluation guards, committed weights replayed on a fresh clone, and the summary rows."""
import csv
import json

import mxnet as mx
import numpy as np
import pytest

import sap_mx
from rl import ddqn, evaluate
from rl.profiles import ATARI
from rl.qnet import nature_qnet
from runkit import ROOT, UsageError, manifest
from sap_mx.attacks import LOSSES, fgsm, fgsm_step, input_gradient
from sap_mx.errors import UserError
from sap_mx.metrics import bootstrap_relative_change


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
    ce = LOSSES["ce"]   # the attacks' own cross-entropy (exact in direction at any margin)
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


# ---------------------------------------------------------------------------------------------
# committed weights: checked, and the recorded games replayed (a fresh clone's make atari-eval)
# ---------------------------------------------------------------------------------------------
def _fake_run(folder, game="Bowling", actions=6):
    """A trained-looking run folder: weights, final.json and their SHA256SUMS line in the
    runs folder above, as a committed cpu run has them."""
    folder.mkdir(parents=True)
    nature_qnet(actions, seed=1).save_parameters(str(folder / "final.params"))
    (folder / "final.json").write_text(json.dumps({"game": game, "actions": actions,
                                                   "steps": 1234, "git_sha": "trained1"}))
    manifest.record(folder / "final.params")
    return folder


def test_fresh_clone_evaluation_replays_the_recorded_dense_games(tmp_path, capsys):
    run = _fake_run(tmp_path / "runs" / "Bowling-cpu-seed0")
    assert (tmp_path / "runs" / "SHA256SUMS").read_text().endswith(
        "  Bowling-cpu-seed0/final.params\n")
    args = dict(game="Bowling", profile="smoke", run=str(run), lambdas="0", episodes=2,
                out=str(tmp_path / "Bowling.csv"), progress=False)
    evaluate.evaluate(evaluate.EvalArgs(**args))
    assert "check:" not in capsys.readouterr().err       # games were played: nothing to replay
    recorded = list(csv.DictReader(open(run / "eval_games.csv")))
    assert len(recorded) == 4
    # every game recorded (a fresh clone): the dense lambda-0 games are played again
    evaluate.evaluate(evaluate.EvalArgs(**args))
    assert ("check: played the 2 recorded dense lambda-0 games of Bowling again from the "
            "weights: every score and length matches") in capsys.readouterr().err
    assert list(csv.DictReader(open(run / "eval_games.csv"))) == recorded  # nothing rewritten
    # a recorded score the weights do not give
    rows = [dict(r) for r in recorded]
    dense0 = next(r for r in rows if r["model"] == "dense" and r["game_index"] == "1")
    dense0["score"] = str(float(dense0["score"]) + 1)
    with open(run / "eval_games.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(evaluate.ReplayMismatch, match="1 of 2 dense lambda-0 games .* game 1:"):
        evaluate.evaluate(evaluate.EvalArgs(**args))
    evaluate.evaluate(evaluate.EvalArgs(**args, check="no"))  # the check can be skipped
    # weights that are not the committed ones: refused before anything is played
    data = bytearray((run / "final.params").read_bytes())
    data[-1] ^= 1
    (run / "final.params").write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match its SHA-256 in .*SHA256SUMS"):
        evaluate.evaluate(evaluate.EvalArgs(**args))


def test_the_cpu_profile_reads_the_committed_run_and_needs_32_mc_samples(tmp_path):
    cpu = ATARI["cpu"]
    run = ddqn.run_dir_for(ddqn.Args(game="asterix", profile="cpu"), cpu)
    assert run == ROOT / "results" / "atari" / "runs" / "Asterix-cpu-seed0"
    assert (cpu.eval_mc, cpu.eval_mc_min, cpu.eval_episodes, cpu.steps) == (100, 32, 30, 2_500_000)
    with pytest.raises(UsageError, match="--mc 16 is below the cpu profile's minimum of 32 "
                                         "Monte Carlo passes"):
        evaluate.evaluate(evaluate.EvalArgs(game="Asterix", profile="cpu", mc=16,
                                            run=str(tmp_path / "none"), progress=False))
    with pytest.raises(UsageError, match="no finished agent"):  # 32 passes: accepted
        evaluate.evaluate(evaluate.EvalArgs(game="Asterix", profile="cpu", mc=32,
                                            run=str(tmp_path / "none"), progress=False))
    with pytest.raises(UsageError, match="--check must be auto, yes or no"):
        evaluate.evaluate(evaluate.EvalArgs(game="Asterix", profile="cpu", check="maybe",
                                            run=str(tmp_path / "none"), progress=False))


# ---------------------------------------------------------------------------------------------
# the summary rows: paired intervals, and the MC check
# ---------------------------------------------------------------------------------------------
def _game_rows(scores):
    """eval_games.csv rows from {(model, lambda, mc): [score of game 0, 1, ...]}, listed in a
    shuffled order (pairing goes by game index, not by position)."""
    rows = [{"game": "Pong", "seed": "0", "model": m, "eps": str(lam), "game_index": str(i),
             "mc": str(k), "max_steps": "300", "epsilon": "0.05", "train_sha": "t",
             "score": str(s), "steps": "10"}
            for (m, lam, k), values in scores.items() for i, s in enumerate(values)]
    order = np.random.default_rng(0).permutation(len(rows))
    return [rows[i] for i in order]


def test_summary_rows_pair_the_games_and_carry_the_mc_check():
    smoke = ATARI["smoke"]
    rng = np.random.default_rng(1)
    dense = {lam: rng.integers(0, 100, 8).astype(float) for lam in (0.0, 1.0, 4.0)}
    scores = {("dense", lam, 1): v for lam, v in dense.items()}
    scores |= {("sap100", lam, 32): v * 1.2 + rng.normal(0, 3, 8) for lam, v in dense.items()}
    scores |= {("sap100", lam, 100): v * 1.1 for lam, v in dense.items() if lam in (1.0, 4.0)}
    scores[("sap100", 1.0, 16)] = dense[1.0]  # another MC count: never mixed in
    rows = evaluate.summarize(_game_rows(scores), game="Pong", lambdas=[0.0, 1.0, 4.0],
                              episodes=8, mc=32, profile=smoke,
                              record={"git_sha": "t", "steps": 99}, seed=0, sha="x",
                              check_mc=100)
    by = {(r["model"], r["eps"]): r for r in rows}
    assert list(by) == [("dense", 0.0), ("sap100", 0.0), ("dense", 1.0), ("sap100", 1.0),
                        ("dense", 4.0), ("sap100", 4.0), ("sap100-mc100", 1.0),
                        ("sap100-mc100", 4.0)]
    for lam in (0.0, 1.0, 4.0):
        sap = scores[("sap100", lam, 32)]
        rel, lo, hi = bootstrap_relative_change(sap, dense[lam], resamples=evaluate.RESAMPLES)
        row = by[("sap100", lam)]
        assert row["rel_change_pct"] == round(rel, 2) and row["mc_samples"] == 32
        assert (row["rel_change_lo"], row["rel_change_hi"]) == (round(lo, 2), round(hi, 2))
        assert lo < rel < hi and row["episodes"] == 8
        assert by[("dense", lam)]["rel_change_lo"] == "" and by[("dense", lam)]["mc_samples"] == 1
    check = by[("sap100-mc100", 4.0)]
    assert check["mc_samples"] == 100 and check["rel_change_pct"] == pytest.approx(10.0)
    # pairing: game i of SAP against game i of dense (a shuffled order changes nothing)
    assert check["rel_change_lo"] == check["rel_change_hi"] == pytest.approx(10.0)
