"""rl/table.py: the Table 1 markdown."""
import csv

from rl import table


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
    lines = text.splitlines()
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
