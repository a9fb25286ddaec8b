"""The README's Atari block, generated from ``results/atari/``, never typed by hand.

The README holds a block between ``<!-- headline:atari:begin -->`` and
``<!-- headline:atari:end -->`` (as ``experiments.headline`` does for Fashion-MNIST). It shows,
for every game whose agent was trained with the ``cpu`` profile, Table 1 of that game (both
agents' scores, SAP-100's change with its 95% paired bootstrap interval, the paper's figure, the
verdict: ``rl.table``), the dense agent against random play, and links to the figure, the
learning curve and ``TABLE.md``; without such an agent it says so and lists the other runs.

``make atari-table PROFILE=cpu`` (``python -m rl.table``) rewrites it; ``python -m rl.headline
--check`` exits 2 when it is stale; ``tests/test_rl_headline.py`` checks that the committed
block is what the committed CSVs give.
"""
from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from runkit import ROOT, UsageError, arg, cli_main, parse_dataclass_args, rel
from runkit.markdown import block_span, replace_block

from .profiles import ATARI
from .table import (TRAINED, _ours, game_cells, game_lines, random_text,
                    weak_agent_note)

__all__ = ["README", "MARKERS", "HEADLINE_PROFILE", "render", "readme_block", "update_readme",
           "main"]

README = ROOT / "README.md"
MARKERS = ("<!-- headline:atari:begin -->", "<!-- headline:atari:end -->")
HEADLINE_PROFILE = "cpu"   # the profile whose agents the block reports


def _episodes(run_dir: Path) -> list[dict]:
    path = run_dir / "episodes.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _training_time(run_dir: Path) -> str:
    """', 7.2 h of training in 3 sessions (17 min per 100k steps)' from final.json, or ''."""
    path = run_dir / "final.json"
    if not path.is_file():
        return ""
    record = json.loads(path.read_text())
    seconds, steps = record.get("train_seconds"), record.get("steps")
    if not seconds or not steps:
        return ""
    sessions = len(record.get("sessions", [])) or 1
    return (f", {seconds / 3600:.1f} h of training in {sessions} session"
            f"{'s' if sessions > 1 else ''} ({seconds / 60 / (steps / 100_000):.0f} min per "
            "100k steps)")


def render(results_dir: Path, profile: str = HEADLINE_PROFILE) -> list[str]:
    """The block's Markdown lines (without the markers)."""
    results_dir = Path(results_dir)
    ours = _ours(results_dir) if results_dir.is_dir() else {}
    mine = {g: rows for g, rows in ours.items() if rows[0]["profile"] == profile}
    lines = [f"*Generated from the CSVs in `{rel(results_dir)}` by `rl/headline.py`; `make "
             f"atari-table PROFILE={profile}` rewrites it.*", ""]
    if not mine:
        lines += [f"**No {profile}-profile agent yet.** `make atari-train GAME=Asterix "
                  f"PROFILE={profile}` trains one (2.5M agent steps, resumable; "
                  "[docs/atari.md](docs/atari.md)), then `make atari-eval GAME=Asterix "
                  f"PROFILE={profile}` plays Table 1."]
    for game, rows in mine.items():
        r = rows[0]
        cells = {c.eps: c for c in game_cells(results_dir, rows)}
        against = random_text(game, cells[0.0].dense if 0.0 in cells else None)
        run_dir = results_dir / "runs" / f"{game}-{r['profile']}-seed{r['seed']}"
        episodes = _episodes(run_dir)
        lines += [f"**{game}**: a DDQN agent trained for {int(float(r['steps_trained'])):,} "
                  f"agent steps (seed {r['seed']}, {len(episodes):,} training games"
                  f"{_training_time(run_dir)}), then "
                  f"played by itself and by its SAP-100 twin under FGSM, {r['episodes']} "
                  "games per cell, game i of every cell from the same seeds; SAP-100 with "
                  f"{cells[min(cells)].mc} Monte Carlo passes. Dense at λ = 0: "
                  f"{against or 'n/a'}. Change in score with its 95% paired bootstrap "
                  "interval; the paper's Table 1 beside it.", ""]
        lines += game_lines(results_dir, game, rows)
        links = [f"[figure]({rel(results_dir / f'{game}.png')})"]
        if (run_dir / "curve.png").is_file():
            links.append(f"[learning curve]({rel(run_dir / 'curve.png')})")
        links.append(f"[all games]({rel(results_dir / 'TABLE.md')})")
        lines += ["", " · ".join(links), ""]
    others = [(g, rows) for g, rows in ours.items() if g not in mine]
    if others:
        lines += ["", "Other runs here:"]
        for game, rows in others:
            r = rows[0]
            dense0 = next((float(x["mean_reward"]) for x in rows
                           if x["model"] == "dense" and float(x["eps"]) == 0), None)
            against = random_text(game, dense0) or (f"{dense0:,.0f}" if dense0 is not None
                                                    else "n/a")
            weak = (f", under the {TRAINED:g}x of a trained agent: not evidence about the paper"
                    if weak_agent_note(game, dense0) else "")
            lines.append(f"- {game}: {r['profile']} profile, {int(float(r['steps_trained'])):,} "
                         f"agent steps; dense at λ = 0: {against}{weak} "
                         f"([table]({rel(results_dir / 'TABLE.md')}))")
    while lines and not lines[-1]:
        lines.pop()
    return lines


def readme_block(text: str) -> tuple[int, int]:
    """Start and end offsets of the block's content in the README ``text``."""
    return block_span(text, *MARKERS, what="the Atari headline")


def update_readme(results_dir: Path, *, readme: Path | None = None, check: bool = False,
                  profile: str = HEADLINE_PROFILE) -> bool:
    """Rewrite the README's block (with ``check`` only compare); True when it was current."""
    return replace_block(readme or README, *MARKERS, render(results_dir, profile), check=check,
                         what="the Atari headline")


@dataclass
class Args:
    """Rewrite (or check) the README's Atari block (python -m rl.headline --help)."""

    readme: str = arg(str(README), "the README to rewrite")
    check: bool = arg(False, "only compare; exit status 2 when the block is out of date")


def run(args: Args) -> list[Path]:
    folder = ATARI.get(HEADLINE_PROFILE).results_dir()
    readme = Path(args.readme)
    current = update_readme(folder, readme=readme, check=args.check)
    if args.check and not current:
        raise UsageError(f"{rel(readme)}: the Atari block is out of date; run make atari-table "
                         f"PROFILE={HEADLINE_PROFILE}")
    if current:
        print(f"{rel(readme)}: the Atari block is current")
    return [] if current else [readme]


def main(argv=None) -> int:
    return cli_main(run, lambda a: parse_dataclass_args(
        Args, a, "python -m rl.headline", "Rewrite the README's Atari block from results/atari."),
        argv)


if __name__ == "__main__":
    sys.exit(main())
