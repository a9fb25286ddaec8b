"""rl/figure.py: the Atari figure from a game's CSV and its per-game scores: the registry's
styles, the relative change with its paired bootstrap interval, the same bytes twice."""
import csv

import numpy as np
import pytest

from experiments.styles import STYLES
from rl import evaluate, figure
from rl.profiles import ATARI
from sap_mx.metrics import bootstrap_relative_change

LAMBDAS = (0.0, 1.0, 2.0)
RECORD = {"git_sha": "trained1", "steps": 3000, "seed": 0}


def _games(n=6):
    """Per-game scores of both agents as eval_games.csv holds them (strings), one extra game
    of another trained agent that must stay out."""
    rng = np.random.default_rng(0)
    rows = []
    for lam in LAMBDAS:
        for i in range(n):
            dense = 100 + 40 * rng.random()
            for model, mc, score in (("dense", 1, dense), ("sap100", 4, dense * (1 + lam / 10)
                                                           + rng.normal(0, 5))):
                rows.append({"game": "Pong", "seed": "0", "model": model, "eps": str(lam),
                             "game_index": str(i), "mc": str(mc), "max_steps": "400",
                             "epsilon": "0.05", "train_sha": "trained1",
                             "score": f"{score:.1f}", "steps": "10", "seconds": "0.1",
                             "git_sha": "x"})
    rows.append({**rows[0], "train_sha": "older", "score": "99999"})
    return rows


def _write(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def results(tmp_path):
    """A results/atari folder: Pong.csv (rl.evaluate.summarize's rows) and its run's scores."""
    games = _games()
    profile = ATARI.get("smoke")
    rows = evaluate.summarize(games, game="Pong", lambdas=list(LAMBDAS), episodes=6, mc=4,
                              profile=type(profile)(**{**profile.__dict__, "eval_max_steps": 400,
                                                       "eval_epsilon": 0.05}),
                              record=RECORD, seed=0, sha="x")
    _write(tmp_path / "Pong.csv", rows)
    run = tmp_path / "runs" / "Pong-smoke-seed0"
    run.mkdir(parents=True)
    _write(run / "eval_games.csv", games)
    return tmp_path, rows, games


def test_the_change_is_drawn_with_its_paired_bootstrap_interval_in_the_registry_styles(
        results, monkeypatch):
    import matplotlib.pyplot as plt

    folder, rows, games = results
    saved = []
    monkeypatch.setattr(figure, "save_figure",
                        lambda fig, path, caption, **kw: saved.append((fig, caption)) or path)
    assert figure.redraw(folder) == [folder / "Pong.png"]
    fig, caption = saved[0]
    scores, change = fig.axes
    handles, labels = scores.get_legend_handles_labels()
    assert labels == ["dense", "SAP-100"]
    for handle, label in zip(handles, labels):
        assert (handle.get_color(), handle.get_marker()) == (STYLES(label).color,
                                                            STYLES(label).marker)
    line = [ln for ln in change.lines if ln.get_label() != "ours" and len(ln.get_xdata()) == 3
            and ln.get_color() == STYLES("SAP-100").color][0]
    band = change.collections[0].get_paths()[0].vertices
    for x, lam in enumerate(LAMBDAS):
        sap = [float(g["score"]) for g in games[:-1] if g["model"] == "sap100"
               and float(g["eps"]) == lam]
        dense = [float(g["score"]) for g in games[:-1] if g["model"] == "dense"
                 and float(g["eps"]) == lam]
        value, lo, hi = bootstrap_relative_change(sap, dense, resamples=figure.RESAMPLES)
        assert line.get_ydata()[x] == pytest.approx(value)
        mine = [r for r in rows if r["model"] == "sap100" and r["eps"] == lam][0]
        assert value == pytest.approx(mine["rel_change_pct"], abs=0.01)   # the CSV's number
        ys = sorted(set(np.round(band[np.isclose(band[:, 0], x), 1], 9)))
        assert ys == pytest.approx([lo, hi])
    assert "95% percentile bootstrap interval" in caption and caption.startswith("Pong: DDQN")
    plt.close(fig)


def test_the_figure_is_the_same_file_twice_and_the_drivers_rows_draw_too(results, tmp_path):
    folder, rows, games = results
    first = figure.redraw(folder)[0].read_bytes()
    assert figure.redraw(folder)[0].read_bytes() == first
    # rl.evaluate draws from its in-memory rows (numbers, not strings): the same figure
    figure.draw(rows, games, tmp_path / "driver.png")
    assert (tmp_path / "driver.png").read_bytes() == first
