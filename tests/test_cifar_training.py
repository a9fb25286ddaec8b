"""The CIFAR training driver: schedules, the ADV batch mix, checkpoints and resume, devices,
GluonCV weights. Runs use the smoke profile (generated CIFAR-format files) in tmp folders."""
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

import mxnet as mx
import numpy as np
import pytest

import sap_mx
from experiments import image_train as ct
from experiments import kvstore
from sap_mx import checkpoint
from sap_mx.attacks import fgsm
from sap_mx.models import get_model, initialize
from sap_mx.recipes import PAPER_RECIPES
from sap_mx.training import adversarial_mix, adversarial_positions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def args(tmp_path, **kw):
    base = dict(profile="smoke", progress=False, out=str(tmp_path / "run"))
    base.update(kw)
    return ct.Args(**base)


# ---------------------------------------------------------------------------------------------
# schedules (paper epochs)
# ---------------------------------------------------------------------------------------------
def test_dense_schedule_exact_epochs():
    r = PAPER_RECIPES["dense"]
    assert r.epochs == 150 and r.batch_size == 512 and r.momentum == 0.9 and r.wd == 1e-4
    lrs = [r.lr_at(e) for e in range(150)]
    assert lrs[:100] == [0.5] * 100
    assert lrs[100:130] == pytest.approx([0.05] * 30)
    assert lrs[130:] == pytest.approx([0.005] * 20)


def test_dropout_schedule_exact_epochs():
    r = PAPER_RECIPES["dropout"]
    assert r.epochs == 250 and r.dropout
    expected = {0: 0.5, 99: 0.5, 100: 0.05, 149: 0.05, 150: 5e-3, 189: 5e-3, 190: 5e-4,
                219: 5e-4, 220: 5e-5, 249: 5e-5}
    for epoch, lr in expected.items():
        assert r.lr_at(epoch) == pytest.approx(lr), epoch


def test_adv_schedule_halves_every_ten_epochs():
    r = PAPER_RECIPES["adv"]
    assert r.epochs == 100 and r.adv_fraction == 0.2 and r.adv_eps == 2.0
    for epoch in range(100):
        assert r.lr_at(epoch) == pytest.approx(0.5 * 0.5 ** (epoch // 10)), epoch


def test_scaled_schedule_for_short_profiles():
    r = PAPER_RECIPES["dense"]
    assert r.scaled_milestones(15) == (10, 13)  # quick: a tenth of the epochs
    assert r.scaled_milestones(150) == (100, 130)


# ---------------------------------------------------------------------------------------------
# ADV batch mix
# ---------------------------------------------------------------------------------------------
def test_adversarial_mix_replaces_20_percent_with_fgsm_of_the_snapshot():
    snapshot = get_model("resnet20")
    initialize(snapshot, seed=1)
    x = mx.nd.random.uniform(0, 255, (10, 3, 32, 32))
    y = mx.nd.array(np.arange(10) % 10)
    mixed, k = adversarial_mix(snapshot, x, y, fraction=0.2, eps=2.0)
    assert k == 2
    adv, clean = [0, 5], [1, 2, 3, 4, 6, 7, 8, 9]
    np.testing.assert_array_equal(mixed.asnumpy()[clean], x.asnumpy()[clean])
    expected = fgsm(snapshot, x[adv], y[adv], 2.0).asnumpy()
    np.testing.assert_allclose(mixed.asnumpy()[adv], expected, atol=1e-4)
    delta = np.abs(mixed.asnumpy()[adv] - x.asnumpy()[adv])
    assert delta.max() <= 2.0 + 1e-4 and (delta > 1.99).mean() > 0.5


def test_adversarial_positions_are_20_percent_spread_over_devices():
    positions = adversarial_positions(512, 0.2)
    assert len(positions) == 102 and len(set(positions.tolist())) == 102
    for part in np.array_split(np.arange(512), 2):   # two devices get 51 each
        assert np.isin(part, positions).sum() == 51
    assert adversarial_positions(64, 0.0).size == 0


def test_adv_training_uses_the_previous_epochs_model(tmp_path, monkeypatch):
    """Within an epoch the snapshot is fixed and equals the weights saved at the end of the
    previous epoch (the initial weights in epoch 1)."""
    def digest(net):
        h = hashlib.sha256()
        for _, p in sorted(net._collect_params_with_prefix().items()):
            h.update(p.data().asnumpy().tobytes())
        return h.hexdigest()

    seen, saved = [], []
    real_mix, real_save = ct.adversarial_mix, checkpoint.save

    def spy_mix(snapshot, xb, yb, **kw):
        seen.append(digest(snapshot))
        return real_mix(snapshot, xb, yb, **kw)

    def spy_save(path, writers, meta):
        with tempfile.TemporaryDirectory() as tmp:
            writers["net.params"](os.path.join(tmp, "p"))
            loaded = get_model("resnet20")
            loaded.load_parameters(os.path.join(tmp, "p"))
            saved.append(digest(loaded))
        return real_save(path, writers, meta)

    monkeypatch.setattr(ct, "adversarial_mix", spy_mix)
    monkeypatch.setattr(checkpoint, "save", spy_save)
    ct.train(args(tmp_path, recipe="adv", epochs=2))
    steps = len(seen) // 2
    first, second = seen[:steps], seen[steps:]
    assert len(set(first)) == 1 and len(set(second)) == 1
    assert second[0] == saved[0] != first[0]


# ---------------------------------------------------------------------------------------------
# outputs, checkpoints, resume
# ---------------------------------------------------------------------------------------------
def test_run_writes_checkpoint_log_curve_and_final(tmp_path):
    old = os.umask(0o022)
    try:
        record = ct.train(args(tmp_path, recipe="dropout", rate=0.3, epochs=2))
    finally:
        os.umask(old)
    run = tmp_path / "run"
    for name in ("checkpoint/manifest.json", "log.csv", "curve.png", "final.params", "final.json"):
        assert (run / name).is_file(), name
    # under umask 022 every file is 0644 and every folder 0755, as plain open() and mkdir()
    # make them (temp files are 0600 and temp folders 0700 until renamed)
    modes = {}
    for folder, dirs, files in os.walk(run):
        for name in dirs + files:
            path = os.path.join(folder, name)
            modes[os.path.relpath(path, run)] = (os.path.isdir(path),
                                                 stat.S_IMODE(os.stat(path).st_mode))
    assert "checkpoint" in modes and "checkpoint/net.params" in modes
    assert {p: oct(m) for p, (is_dir, m) in modes.items()
            if m != (0o755 if is_dir else 0o644)} == {}
    final = json.loads((run / "final.json").read_text())
    assert final["finished"] and final["profile"] == "smoke" and "generated" in final["data"]
    assert "test_acc" in final and "test_acc_dropout_on" in final
    header = (run / "log.csv").read_text().splitlines()[0].split(",")
    for column in ("epoch", "lr", "train_loss", "test_acc", "profile", "data", "seed", "git_sha"):
        assert column in header
    assert record["epochs_done"] == 2


def test_finished_weights_are_listed_found_without_checkpoint_and_checked(tmp_path, capsys):
    """Committed weights: the manifest lists final.params when the run finishes; a finished run
    whose checkpoint is gone (only final.params/final.json committed) is found, not retrained;
    weights that no longer match their line are a one-line error."""
    ct.train(args(tmp_path, epochs=2))
    run = tmp_path / "run"
    params = run / "final.params"
    digest = hashlib.sha256(params.read_bytes()).hexdigest()
    assert (tmp_path / "SHA256SUMS").read_text() == f"{digest}  run/final.params\n"
    # loaded as the drivers load it, the weights give the accuracy final.json records
    from experiments import weights
    capsys.readouterr()
    assert weights.main(["--folder", str(tmp_path), "--profile", "smoke", "--check",
                         "--evaluate"]) == 0
    said = capsys.readouterr().out
    recorded = json.loads((run / "final.json").read_text())["test_acc"]
    assert f"final.json says {100 * recorded:.2f}%" in said and "differs" not in said
    shutil.rmtree(run / "checkpoint")
    before = params.stat().st_mtime_ns
    capsys.readouterr()
    record = ct.train(args(tmp_path, epochs=2))
    assert record["finished"] and "already trained" in capsys.readouterr().err
    assert params.stat().st_mtime_ns == before and not (run / "checkpoint").exists()
    # finished weights of another configuration are never overwritten without --fresh
    final = json.loads((run / "final.json").read_text())
    assert final["config"]["epochs"] == 2
    (run / "final.json").write_text(json.dumps({**final, "config": {**final["config"],
                                                                    "batch_size": 7}}))
    assert ct.main(["--profile", "smoke", "--epochs", "2", "--out", str(run),
                    "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "another configuration" in err and "--fresh" in err
    assert params.stat().st_mtime_ns == before
    (run / "final.json").write_text(json.dumps(final))
    params.write_bytes(params.read_bytes()[:-4] + b"\0\0\0\0")
    assert ct.main(["--profile", "smoke", "--epochs", "2", "--out", str(run),
                    "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "SHA-256" in err
    assert "--fresh" in err


def final_params(run_dir):
    return mx.nd.load(os.path.join(run_dir, "final.params"))


def test_interrupted_run_resumes_to_the_same_parameters(tmp_path):
    straight = ct.train(args(tmp_path, out=str(tmp_path / "a"), epochs=3))
    first = ct.train(args(tmp_path, out=str(tmp_path / "b"), epochs=3, stop_after=1))
    assert not first["finished"] and not (tmp_path / "b" / "final.params").exists()
    meta, _ = checkpoint.load(tmp_path / "b" / "checkpoint")
    assert meta["epoch"] == 1
    resumed = ct.train(args(tmp_path, out=str(tmp_path / "b"), epochs=3))
    assert straight["finished"] and resumed["finished"]
    a, b = final_params(tmp_path / "a"), final_params(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key].asnumpy(), b[key].asnumpy(), err_msg=key)
    log = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + 3


def test_kill_minus_nine_loses_at_most_the_current_epoch(tmp_path):
    """A checkpoint swap interrupted between its renames is recovered; a half-written temp folder
    is ignored."""
    ct.train(args(tmp_path, epochs=2, stop_after=1))
    ckpt = tmp_path / "run" / "checkpoint"
    os.replace(ckpt, ckpt.with_name("checkpoint.old"))         # crash after the first rename
    (tmp_path / "run" / ".checkpoint.partial").mkdir()           # crash while writing
    meta, _ = checkpoint.load(ckpt)
    assert meta["epoch"] == 1
    assert ct.train(args(tmp_path, epochs=2))["finished"]


def test_crash_after_the_swap_leaves_no_obstacle(tmp_path):
    """Killed after the new checkpoint is in place but before the old one is removed: the next
    save must still work."""
    ct.train(args(tmp_path, epochs=3, stop_after=1))
    ckpt = tmp_path / "run" / "checkpoint"
    shutil.copytree(ckpt, ckpt.with_name("checkpoint.old"))
    assert ct.train(args(tmp_path, epochs=3, stop_after=1))["epochs_done"] == 2
    assert not ckpt.with_name("checkpoint.old").exists()


def test_real_kill_minus_nine_mid_run_resumes(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "experiments.image_train", "--profile", "smoke", "--epochs", "6",
           "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "checkpoint" / "manifest.json").is_file():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.7)  # somewhere inside a later epoch (or a later save)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    meta, _ = checkpoint.load(out / "checkpoint")
    assert 1 <= meta["epoch"] < 6
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming dense-smoke-seed0 after epoch {meta['epoch']}/6" in done.stderr
    assert len((out / "log.csv").read_text().splitlines()) == 1 + 6


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path, capsys):
    ct.train(args(tmp_path, epochs=2, stop_after=1))
    params = tmp_path / "run" / "checkpoint" / "net.params"
    params.write_bytes(params.read_bytes()[:-10])
    code = ct.main(["--profile", "smoke", "--epochs", "2", "--out", str(tmp_path / "run"),
                    "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: checkpoint at") and "net.params does not match" in err[-1]


def test_different_configuration_is_not_resumed(tmp_path, capsys):
    ct.train(args(tmp_path, epochs=2, stop_after=1))
    code = ct.main(["--profile", "smoke", "--epochs", "2", "--seed", "5", "--out",
                    str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    assert "different configuration" in capsys.readouterr().err
    assert ct.train(args(tmp_path, epochs=2, seed=5, fresh=True))["finished"]


@pytest.mark.parametrize("argv, match", [
    (["--recipe", "dense2"], "unknown recipe 'dense2'; valid: dense, dropout, adv"),
    (["--recipe", "dropout"], "needs --rate in"),
    (["--profile", "full"], "unknown profile 'full'; valid: paper, quick, smoke"),
    (["--crop", "30"], "--crop must be 32 or 28"),
    (["--pretrained", "gluoncv"], "needs --model cifar_resnet20_v1 or _v2"),
    (["--gpus", "x"], "GPU indices like 0,1"),
    (["--kvstore", "dist_sync"], "--kvstore dist_sync needs DMLC_ROLE"),
])
def test_usage_errors_are_one_line(capsys, argv, match):
    assert ct.main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_two_cpu_contexts_train(tmp_path):
    record = ct.train(args(tmp_path, epochs=1, cpu_devices=2))
    assert record["finished"]


# ---------------------------------------------------------------------------------------------
# GluonCV layouts
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_gluoncv_weights_load_into_our_models(tmp_path, version):
    from gluoncv.model_zoo import get_model as gluoncv_model

    from sap_mx.blocks import is_relu, walk
    from sap_mx.models.gluoncv_resnet import GLUONCV_MEAN, GLUONCV_STD

    reference = gluoncv_model(f"cifar_resnet20_{version}")
    reference.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(0, 255, (4, 3, 32, 32))
    mean = mx.nd.array(GLUONCV_MEAN).reshape((1, 3, 1, 1))
    std = mx.nd.array(GLUONCV_STD).reshape((1, 3, 1, 1))
    normalised = (x / 255 - mean) / std
    with mx.autograd.train_mode():
        reference(normalised)  # non-trivial BatchNorm statistics
    reference.save_parameters(str(tmp_path / "gluoncv.params"))
    ours = get_model(f"cifar_resnet20_{version}")
    ours.load_parameters(str(tmp_path / "gluoncv.params"))
    np.testing.assert_allclose(ours(x).asnumpy(), reference(normalised).asnumpy(),
                               rtol=1e-4, atol=1e-4)
    relus = sum(is_relu(b) for b in walk(ours))
    assert relus == (18 if version == "v1" else 19)
    defended = sap_mx.defend(ours, "sap")
    assert not np.array_equal(defended(x).asnumpy(), ours(x).asnumpy())


def test_pretrained_gluoncv_offline_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    monkeypatch.setattr("gluoncv.model_zoo.model_store.get_model_file",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    code = ct.main(["--model", "cifar_resnet20_v2", "--pretrained", "gluoncv", "--epochs", "1",
                    "--profile", "smoke",
                    "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    assert "cannot get GluonCV's pretrained cifar_resnet20_v2" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# distributed: scheduler, one server, two workers on loopback
# ---------------------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_kvstore_broadcasts_before_the_first_step():
    # The broadcast must not be left to the first step(), where its pull races that step's push
    # (see start_kvstore); after it the kvstore holds every parameter and nothing is pending.
    net = get_model("resnet20")
    initialize(net, seed=0)
    kv = mx.kv.create("local")
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1},
                               kvstore=kv, update_on_kvstore=False)
    assert not trainer._kv_initialized and trainer._params_to_init
    kvstore.start_kvstore(trainer)
    assert trainer._kv_initialized and not trainer._params_to_init
    for i in (0, len(trainer._params) - 1):
        stored = mx.nd.zeros_like(trainer._params[i].data())
        kv.pull(i, out=stored)
        np.testing.assert_array_equal(stored.asnumpy(), trainer._params[i].data().asnumpy())


def test_dist_sync_workers_end_with_identical_parameters(tmp_path):
    env = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(free_port()),
               DMLC_NUM_SERVER="1", DMLC_NUM_WORKER="2", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", "import mxnet"],
                              env=dict(env, DMLC_ROLE=role), cwd=ROOT)
             for role in ("scheduler", "server")]
    cmd = [sys.executable, "-m", "experiments.image_train", "--kvstore", "dist_sync",
           "--profile", "smoke", "--epochs", "2", "--out", str(tmp_path / "run"), "--no-progress",
           "--seed", "11"]
    workers = [subprocess.Popen(cmd, env=dict(env, DMLC_ROLE="worker"), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    try:
        outputs = [w.communicate(timeout=240)[0] for w in workers]
        for p in procs:
            p.wait(timeout=60)
    finally:
        for p in procs + workers:
            if p.poll() is None:
                p.kill()
    assert all(w.returncode == 0 for w in workers), outputs
    a = mx.nd.load(str(tmp_path / "run" / "final.params"))
    b = mx.nd.load(str(tmp_path / "run" / "final.rank1.params"))
    assert a.keys() == b.keys() and len(a) > 50
    for key in a:
        np.testing.assert_array_equal(a[key].asnumpy(), b[key].asnumpy(), err_msg=key)
    shutil.rmtree(tmp_path / "run")

