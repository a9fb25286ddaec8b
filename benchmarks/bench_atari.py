"""Atari DDQN throughput on this machine's CPU: the fused learner beside the reference one.

Both implementations of ``rl.learner`` (``LEARNERS``: ``reference``, today's three networks and
imperative glue; ``fused``, one cached graph per update) are measured in the same process, in
alternating blocks, so that the ratio is fair even when other work shares the machine (the CSV
records the load average seen at the start). Each thread setting runs in its own process:
``omp_all_cores`` (OMP_NUM_THREADS = cores, what ``rl.ddqn`` sets when it is unset) and
``omp_1`` (one thread).

1. Learner update (batch 32, Nature CNN, DeepMind RMSProp), ms per update, median of blocks of
   4 updates (the time until the optimizer has finished).
2. Agent steps/s with learning: the loop of ``rl.ddqn.train`` on Asterix after the replay is
   warm (epsilon 0.1, an update every 4 steps): ``reference`` in the old order (act, step, learn),
   ``fused`` in the same order, and ``fused`` in ``rl.ddqn``'s order (DeepMind's: store, choose
   the next action, learn; the emulator plays it while the update runs). Target: the fused loop
   >= 1.2x the reference.
3. Replay memory per 1M transitions (frames stored once), from the arrays' sizes.
4. The Table 1 evaluation's cost per agent step under FGSM (lambda 1): dense, and SAP-100 at 32
   and 100 Monte Carlo passes (``rl.evaluate.attacked_action``).
5. Estimates for the ``cpu`` profile: training hours (2.5M steps at the fused loop's rate) and
   evaluation hours per 1,000 agent steps of mean game length (30 games x 5 lambdas x both
   agents; Asterix games of a trained agent last ~1,000-3,000 steps, capped at 4,500).

Run: ``python benchmarks/bench_atari.py [--quick] [--out results/bench/atari.csv]``.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

TARGET_SPEEDUP = 1.2
GAME = "Asterix"


def _median_ms(times) -> float:
    return round(statistics.median(times) * 1e3, 2)


def measure(quick: bool) -> list[dict]:
    import mxnet as mx
    import numpy as np

    import sap_mx
    from rl.ddqn import BATCH
    from rl.envs import make_env
    from rl.evaluate import attacked_action
    from rl.learner import LEARNERS
    from rl.profiles import ATARI
    from rl.qnet import nature_qnet
    from rl.replay import Replay

    load = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    rows = []

    # 1. the update alone --------------------------------------------------------------------
    batch = (rng.integers(0, 256, (BATCH, 4, 84, 84), dtype=np.uint8),
             rng.integers(0, 6, BATCH).astype(np.int32),
             rng.choice([-1.0, 0.0, 1.0], BATCH).astype(np.float32),
             rng.integers(0, 256, (BATCH, 4, 84, 84), dtype=np.uint8), rng.random(BATCH) < 0.1)
    learners = {name: cls(6, seed=0) for name, cls in LEARNERS.items()}
    for learner in learners.values():
        for _ in range(5):
            learner.update(*batch)
    mx.nd.waitall()
    times = {name: [] for name in learners}
    for _ in range(6 if quick else 25):
        for name, learner in learners.items():
            t0 = time.perf_counter()
            for _ in range(4):
                learner.update(*batch)
            mx.nd.waitall()
            times[name].append((time.perf_counter() - t0) / 4)
    ms = {name: _median_ms(t) for name, t in times.items()}
    for name in learners:
        rows.append({"metric": f"learner_update_ms_{name}", "value": ms[name], "target": "",
                     "met": "", "reps": 4 * len(times[name]),
                     "detail": f"batch {BATCH}, until the optimizer has finished; min "
                               f"{min(times[name]) * 1e3:.1f} ms"})
    rows.append({"metric": "learner_update_speedup",
                 "value": round(ms["reference"] / ms["fused"], 3), "target": "", "met": "",
                 "reps": "", "detail": "reference / fused"})

    # 2. the training loop with learning -------------------------------------------------------
    env = make_env(GAME, training=True)
    actions = int(env.action_space.n)
    learners = {name: cls(actions, seed=0) for name, cls in LEARNERS.items()}
    replay = Replay(20_000)
    obs, _ = env.reset(seed=0)
    state = {"obs": obs, "first": True, "action": 0}

    def play(action):
        nxt, reward, term, trunc, _ = env.step(action)
        replay.add(state["obs"][-1], action, reward, term, state["first"])
        if term or trunc:
            (state["obs"], _), state["first"] = env.reset(), True
        else:
            state["obs"], state["first"] = nxt, False

    def choose(learner):
        return (int(rng.integers(actions)) if rng.random() < 0.1
                else learner.act(state["obs"]))

    def old_order(learner, n):
        """act, step, store, learn: the reference's loop before this benchmark's issue"""
        for step in range(1, n + 1):
            play(choose(learner))
            if step % 4 == 0:
                learner.update(*replay.sample(BATCH, rng))

    def deepmind_order(learner, n):
        """step, store, choose the next action, learn: rl.ddqn's loop"""
        for step in range(1, n + 1):
            play(state["action"])
            state["action"] = choose(learner)
            if step % 4 == 0:
                learner.update(*replay.sample(BATCH, rng))

    for _ in range(2_000):
        play(int(rng.integers(actions)))
    variants = {"reference": (learners["reference"], old_order),
                "fused_old_order": (learners["fused"], old_order),
                "fused": (learners["fused"], deepmind_order)}
    for learner, loop in variants.values():
        loop(learner, 40)
    mx.nd.waitall()
    steps = 150 if quick else 600
    rates = {name: [] for name in variants}
    for _ in range(3 if quick else 5):
        for name, (learner, loop) in variants.items():
            t0 = time.perf_counter()
            loop(learner, steps)
            mx.nd.waitall()
            rates[name].append(steps / (time.perf_counter() - t0))
    rate = {name: round(statistics.median(r), 1) for name, r in rates.items()}
    what = {"reference": "reference learner, old order (act, step, learn)",
            "fused_old_order": "fused learner, old order",
            "fused": "fused learner, rl.ddqn's order (store, choose, learn)"}
    for name in variants:
        rows.append({"metric": f"train_steps_per_s_{name}", "value": rate[name], "target": "",
                     "met": "", "reps": steps * len(rates[name]),
                     "detail": f"{GAME}, epsilon 0.1, an update every 4 steps: {what[name]}"})
    speedup = round(rate["fused"] / rate["reference"], 3)
    rows.append({"metric": "train_speedup", "value": speedup, "target": TARGET_SPEEDUP,
                 "met": speedup >= TARGET_SPEEDUP, "reps": "",
                 "detail": "fused (rl.ddqn's loop) / reference (old loop), steps/s with learning"})

    # 3. replay memory -------------------------------------------------------------------------
    gb = Replay(1000).nbytes / 1000 * 1_000_000 / 1e9
    rows.append({"metric": "replay_gb_per_1M_transitions", "value": round(gb, 3), "target": 7.5,
                 "met": gb <= 7.5, "reps": "", "detail": "84x84 uint8 frame + action, reward, "
                 "done, first per transition"})

    # 4. the evaluation's step -----------------------------------------------------------------
    net = nature_qnet(actions, seed=0)
    net.hybridize()
    sap = sap_mx.defend(net, "sap", frac=1.0)
    frames = rng.integers(0, 256, (8, 4, 84, 84), dtype=np.uint8)
    step_ms = {}
    for name, model, mc in (("dense", net, 1), ("sap100_mc32", sap, 32),
                            ("sap100_mc100", sap, 100)):
        attacked_action(model, frames[0], 1.0, mc)
        t = []
        for i in range(3 if quick else 8):
            t0 = time.perf_counter()
            attacked_action(model, frames[i % len(frames)], 1.0, mc)
            t.append(time.perf_counter() - t0)
        step_ms[name] = _median_ms(t)
        rows.append({"metric": f"eval_step_ms_{name}", "value": step_ms[name], "target": "",
                     "met": "", "reps": len(t), "detail": "FGSM at lambda 1: label, gradient "
                     "and action (rl.evaluate.attacked_action)"})

    # 5. the cpu profile's cost ----------------------------------------------------------------
    cpu = ATARI.get("cpu")
    hours = cpu.steps / rate["fused"] / 3600
    rows.append({"metric": "cpu_profile_train_hours", "value": round(hours, 2), "target": "",
                 "met": "", "reps": "",
                 "detail": f"{cpu.steps:,} steps at {rate['fused']} steps/s (fused); replay "
                           f"warm-up and the 7 GB checkpoints every {cpu.checkpoint_every:,} "
                           "steps not counted"})
    for mc in (32, 100):
        cells = cpu.eval_episodes * 5
        per_1000 = cells * 1000 * (step_ms["dense"] + step_ms[f"sap100_mc{mc}"]) / 1e3 / 3600
        rows.append({"metric": f"cpu_profile_eval_hours_per_1000_step_games_mc{mc}",
                     "value": round(per_1000, 2), "target": "", "met": "", "reps": "",
                     "detail": f"{cpu.eval_episodes} games x 5 lambdas x (dense + SAP-100 at "
                               f"{mc} passes), per 1,000 agent steps of mean game length "
                               "(lambda 0 is cheaper: no gradient)"})
    for row in rows:
        row["loadavg"] = round(load, 2)
    return rows


CONFIGS = {"omp_all_cores": {"OMP_NUM_THREADS": str(os.cpu_count() or 1)},
           "omp_1": {"OMP_NUM_THREADS": "1"}}


def main(argv=None) -> int:
    from children import parse_bench_args, run_per_config

    args = parse_bench_args(argv, __doc__, "atari", "fewer repetitions and steps", child=True)
    return run_per_config(args, __file__, CONFIGS, measure, width=48,
                          extra=lambda name: {"omp_num_threads": CONFIGS[name]["OMP_NUM_THREADS"]})


if __name__ == "__main__":
    sys.exit(main())
