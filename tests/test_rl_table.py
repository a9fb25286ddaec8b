"""rl/table.py: the Table 1 markdown, its intervals, verdicts against the paper, the dense agent
against random play and the Monte Carlo check."""
import csv

import pytest

from rl import table
from sap_mx.metrics import bootstrap_relative_change


def _write_results(path, game, cells):
    """cells: {lambda: rel_change_pct of the SAP row}."""
    meta = {"episodes": 2, "mc_samples": 4, "eval_epsilon": 0.05, "seed": 0, "profile": "smoke",
            "steps_trained": 3000, "git_sha": "abc123"}
    rows = []
    for lam, rel in cells.items():
        rows.append({"game": game, "model": "dense", "eps": lam, "mean_reward": 10.0,
                     "rel_change_pct": "", **meta, "mc_samples": 1})
        rows.append({"game": game, "model": "sap100", "eps": lam, "mean_reward": 11.0,
                     "rel_change_pct": rel, **meta})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_table_puts_ours_and_the_papers_in_the_right_cells(tmp_path):
    _write_results(tmp_path / "Bowling.csv", "Bowling", {0: -7.3, 1: 12.5, 2: 33.0, 4: 0.0,
                                                          8: -50.0})
    _write_results(tmp_path / "Pong.csv", "Pong", {0: 2.0, 1: 4.0})
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")  # not a results file: ignored
    text = table.build_table(tmp_path)
    lines = text.split("Runs behind our cells")[0].splitlines()  # the grid
    header = next(line for line in lines if line.startswith("| lambda |"))
    games = [c.strip() for c in header.strip("|").split("|")][1:]
    assert games == list(table.PAPER_GAMES) + ["Pong"]

    def row(lam):
        line = next(line for line in lines if line.startswith(f"| {lam} |"))
        return dict(zip(games, [c.strip() for c in line.strip("|").split("|")][1:]))

    assert table.paper_values()["Bowling"][1.0] == 3425.9
    assert row(1)["Bowling"] == "+12.5% (+3425.9%)"
    assert row(0)["Bowling"] == "-7.3% (-4.5%)"
    assert row(8)["Bowling"] == "-50.0%"          # the paper's Bowling cell at 8 is empty
    assert row(4)["Bowling"] == "+0.0%"
    assert row(1)["Pong"] == "+4.0%" and row(2)["Pong"] == "-"  # not a paper game; no run at 2
    assert row(1)["Assault"] == "- (+10.4%)" and row(8)["BankHeist"] == "- (+60.9%)"
    assert row(8)["BeamRider"] == "-"
    assert [line.split("|")[1].strip() for line in lines if line.startswith("| ")
            and line.split("|")[1].strip() not in ("lambda", "---")] == ["0", "1", "2", "4", "8"]
    assert "- Bowling: profile smoke, 3,000 agent steps trained, 2 games per cell, SAP MC " \
           "samples 4" in text
    assert "notes" not in text
    # no results at all: every game '-' and the hint to run one
    empty = tmp_path / "empty"
    empty.mkdir()
    text = table.build_table(empty)
    assert "none yet" in text and "| 1 | - (+10.4%) |" in text


# ---------------------------------------------------------------------------------------------
# verdicts, intervals and the MC check
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rel,lo,hi,paper,expected", [
    (12.0, 5.0, 20.0, 13.3, table.AGREES),               # same sign, the figure inside
    (12.0, 5.0, 20.0, 60.9, table.SIGN_ONLY),            # same sign, the figure outside
    (-30.0, -45.0, -12.0, 13.3, table.OPPOSITE),          # excludes 0, on the other side
    (15.0, 2.0, 30.0, -22.0, table.OPPOSITE),
    (2.0, -10.0, 15.0, 7.4, table.INCONCLUSIVE),          # includes 0 and the figure
    (2.0, -10.0, 15.0, 3425.9, table.NO_CHANGE_FIGURE_OUT),
    (-5.0, -12.0, -1.0, -4.5, table.AGREES),              # lambda 0's drop, as the paper's
])
def test_verdict_against_the_papers_sign_and_figure(rel, lo, hi, paper, expected):
    assert table.verdict(rel, lo, hi, paper) == expected


def test_verdict_without_a_paper_figure_or_an_interval():
    assert table.verdict(5.0, 1.0, 9.0, None) == ("the paper has no figure here; ours: SAP-100 "
                                                  "higher")
    assert table.verdict(5.0, -1.0, 9.0, None).endswith("ours: no change detected")
    assert table.verdict(None, None, None, 7.4).startswith("not judged: the dense agent scored 0")
    assert table.verdict(5.0, None, None, 7.4).startswith("not judged: no interval")


def _rows(game, cells, profile="cpu", episodes=30, mc=100, steps=2_500_000, dense=1000.0,
          check=None):
    """Summary rows as rl.evaluate writes them: cells {lambda: (sap mean, rel, lo, hi)};
    check {lambda: (sap mean, rel, lo, hi)} at 100 passes when ``mc`` is fewer."""
    meta = {"episodes": episodes, "eval_epsilon": 0.05, "seed": 0, "profile": profile,
            "steps_trained": steps, "git_sha": "abc", "train_git_sha": "t", "max_steps": 4500}
    rows = []
    for lam, (sap, rel, lo, hi) in cells.items():
        rows.append({"game": game, "model": "dense", "eps": lam, "mean_reward": dense,
                     "rel_change_pct": "", "rel_change_lo": "", "rel_change_hi": "",
                     **meta, "mc_samples": 1})
        rows.append({"game": game, "model": "sap100", "eps": lam, "mean_reward": sap,
                     "rel_change_pct": rel, "rel_change_lo": lo, "rel_change_hi": hi, **meta,
                     "mc_samples": mc})
    for lam, (sap, rel, lo, hi) in (check or {}).items():
        rows.append({"game": game, "model": "sap100-mc100", "eps": lam, "mean_reward": sap,
                     "rel_change_pct": rel, "rel_change_lo": lo, "rel_change_hi": hi, **meta,
                     "mc_samples": 100})
    return rows


def _write_rows(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_the_table_carries_intervals_verdicts_random_play_and_the_mc_check(tmp_path):
    _write_rows(tmp_path / "Asterix.csv", _rows(
        "Asterix", {0: (700.0, -30.0, -45.0, -12.0), 1: (1120.0, 12.0, 5.0, 20.0),
                    4: (1020.0, 2.0, -10.0, 15.0)}, mc=32, dense=1000.0,
        check={1: (1150.0, 15.0, 7.0, 24.0), 4: (990.0, -1.0, -14.0, 12.0)}))
    text = table.build_table(tmp_path)
    grid = {line.split("|")[1].strip(): line
            for line in text.split("Runs behind our cells")[0].splitlines()
            if line.startswith("| ") and "Asterix" not in line}
    assert "| -30.0% [-45.0, -12.0] (-33.4%) |" in grid["0"]
    assert "| +12.0% [+5.0, +20.0] (+13.3%) |" in grid["1"]
    assert "- Asterix: profile cpu, 2,500,000 agent steps trained, 30 games per cell, SAP MC " \
           "samples 32" in text
    assert "dense at lambda 0: 1,000 = 4.8x random play (210)" in text
    section = text.split("## Asterix")[1]
    assert "Not evidence" not in section
    assert (f"| 0 | 1,000.0 | 700.0 | -30.0% [-45.0, -12.0] | -33.4% | {table.AGREES} |"
            in section)
    assert f"| 1 | 1,000.0 | 1,120.0 | +12.0% [+5.0, +20.0] | +13.3% | {table.AGREES} |" in section
    assert f"| 4 | 1,000.0 | 1,020.0 | +2.0% [-10.0, +15.0] | +14.0% | {table.INCONCLUSIVE} |" \
           in section
    check = section.split("Monte Carlo check: SAP-100 with 100 passes")[1]
    assert "| 1 | +12.0% [+5.0, +20.0] | +15.0% [+7.0, +24.0] | +3.0 points |" in check
    assert "| 4 | +2.0% [-10.0, +15.0] | -1.0% [-14.0, +12.0] | -3.0 points |" in check
    # a weak agent: its verdicts are flagged as saying nothing about the paper
    _write_rows(tmp_path / "Asterix.csv", _rows("Asterix", {0: (700.0, -30.0, -45.0, -12.0)},
                                                dense=500.0))
    assert "under the 4x asked of a trained agent" in table.build_table(tmp_path)


def test_older_csvs_get_their_intervals_from_the_runs_games(tmp_path):
    """A CSV written before the interval columns: the interval comes from the run's
    eval_games.csv, as the figure computes it."""
    rows = [{k: v for k, v in r.items() if k not in ("rel_change_lo", "rel_change_hi")}
            for r in _rows("Pong", {1: (12.0, 20.0, "", "")}, episodes=3, mc=4, dense=10.0,
                           profile="smoke")]
    _write_rows(tmp_path / "Pong.csv", rows)
    text = table.build_table(tmp_path)   # no games: no interval, no verdict
    assert "| 1 | 10.0 | 12.0 | +20.0% | - | not judged: no interval" in text
    run = tmp_path / "runs" / "Pong-smoke-seed0"
    run.mkdir(parents=True)
    games = [{"game": "Pong", "seed": 0, "model": m, "eps": 1.0, "game_index": i, "mc": k,
              "max_steps": 4500, "epsilon": 0.05, "train_sha": "t", "score": s}
             for m, k, scores in (("dense", 1, (8, 10, 12)), ("sap100", 4, (10, 12, 14)))
             for i, s in enumerate(scores)]
    _write_rows(run / "eval_games.csv", games)
    _, lo, hi = bootstrap_relative_change([10, 12, 14], [8, 10, 12], resamples=table.RESAMPLES)
    assert f"| 1 | 10.0 | 12.0 | +20.0% [{lo:+.1f}, {hi:+.1f}] | - | the paper has no figure" \
        in table.build_table(tmp_path)
