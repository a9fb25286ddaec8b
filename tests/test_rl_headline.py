"""The README's Atari block (rl/headline.py): the committed block is what the committed results
give, and the block's content follows from rows built to known answers."""
import io
import json
import subprocess
import tarfile

import pytest

from rl import headline, table
from runkit import ROOT, UsageError

from test_rl_table import _rows, _write_rows


def _git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=60)


def test_the_committed_readme_block_is_generated_from_the_committed_atari_results(tmp_path):
    """While a training or an evaluation writes to results/atari (uncommitted changes there),
    the README and the results both come from the last commit instead of the working tree."""
    folder, readme = ROOT / "results" / "atari", headline.README
    busy = _git("status", "--porcelain", "--", str(folder))
    if busy.returncode == 0 and busy.stdout.strip():
        paths = [str(p.relative_to(ROOT)) for p in (folder, readme)]
        archive = _git("archive", "--format=tar", "HEAD", *paths)
        assert archive.returncode == 0, archive.stderr
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp_path)
        folder, readme = tmp_path / paths[0], tmp_path / paths[1]
    text = readme.read_text(encoding="utf-8")
    i, j = headline.readme_block(text)
    rendered = "\n".join(headline.render(folder))
    if folder.is_relative_to(tmp_path):             # paths in the block are the repository's
        rendered = rendered.replace(f"{tmp_path.resolve()}/", "")
    assert text[i:j].strip("\n") == rendered, (
        "README.md's Atari block does not match results/atari/; run make atari-table "
        "PROFILE=cpu and commit README.md with the results")


def test_the_block_without_a_cpu_agent_says_so_and_lists_the_other_runs(tmp_path):
    _write_rows(tmp_path / "Assault.csv", _rows("Assault", {0: (330.0, -1.9, -17.0, 16.0)},
                                                profile="quick", steps=200_000, dense=336.0))
    text = "\n".join(headline.render(tmp_path))
    assert "**No cpu-profile agent yet.**" in text
    assert "- Assault: quick profile, 200,000 agent steps; dense at λ = 0: 336 = 1.5x random " \
           "play (222), under the 4x of a trained agent: not evidence about the paper" in text
    assert "| lambda |" not in text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "No cpu-profile agent yet" in "\n".join(headline.render(empty))


def test_the_block_of_a_cpu_agent_is_its_table_1_with_intervals_and_verdicts(tmp_path):
    _write_rows(tmp_path / "Asterix.csv", _rows(
        "Asterix", {0: (700.0, -30.0, -45.0, -12.0), 1: (1120.0, 12.0, 5.0, 20.0)}, mc=100,
        dense=1000.0))
    run = tmp_path / "runs" / "Asterix-cpu-seed0"
    run.mkdir(parents=True)
    (run / "episodes.csv").write_text("game_index,return\n0,200\n1,300\n")
    (run / "curve.png").write_bytes(b"png")
    (run / "final.json").write_text(json.dumps({"steps": 2_500_000, "train_seconds": 25_920.0,
                                                "sessions": [{}, {}, {}]}))
    lines = headline.render(tmp_path)
    text = "\n".join(lines)
    assert "No cpu-profile agent yet" not in text
    assert ("**Asterix**: a DDQN agent trained for 2,500,000 agent steps (seed 0, 2 training "
            "games, 7.2 h of training in 3 sessions (17 min per 100k steps))") in text
    assert "30 games per cell" in text and "SAP-100 with 100 Monte Carlo passes" in text
    assert "Dense at λ = 0: 1,000 = 4.8x random play (210)" in text
    assert f"| 1 | 1,000.0 | 1,120.0 | +12.0% [+5.0, +20.0] | +13.3% | {table.AGREES} |" in lines
    assert "[learning curve](" in text and "curve.png)" in text


def test_update_readme_rewrites_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- headline:atari:begin -->\nold\n<!-- headline:atari:end -->\n"
                      "tail\n")
    results = tmp_path / "results"
    results.mkdir()
    assert headline.update_readme(results, readme=readme, check=True) is False
    assert headline.update_readme(results, readme=readme) is False
    text = readme.read_text()
    assert text.startswith("# x\n\n<!-- headline:atari:begin -->\n*Generated") and \
        text.endswith("<!-- headline:atari:end -->\ntail\n") and "old" not in text
    assert headline.update_readme(results, readme=readme, check=True) is True
    (tmp_path / "bare.md").write_text("no markers\n")
    with pytest.raises(UsageError, match="no '<!-- headline:atari:begin -->'"):
        headline.update_readme(results, readme=tmp_path / "bare.md")
