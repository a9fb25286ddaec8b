"""Helpers shared by the tests of the image-result readers (tests/test_claims.py,
tests/test_headline.py): result rows with per-image masks, built to known answers."""
import csv

from runkit.rows import mask_hex

COLUMNS = ["experiment", "figure", "model", "defense", "param", "attack", "attack_model",
           "mc_samples", "eps", "accuracy", "n", "predict_mc", "seed", "profile", "data",
           "checkpoint", "git_sha", "utc", "correct"]


def row(model, defense, param, eps, mask, *, experiment="sap", attack="fgsm",
        attack_model="self", mc=1, profile="cpu", offset=None):
    """One figure-experiment row whose ``correct`` column is ``mask`` (a boolean array);
    ``offset`` (the first test image) only when given: rows of older files have none."""
    out = {"experiment": experiment, "figure": "1b", "model": model, "defense": defense,
           "param": "" if param is None else f"{param:g}", "attack": attack,
           "attack_model": attack_model, "mc_samples": mc, "eps": eps,
           "accuracy": round(float(mask.mean()), 6), "n": len(mask),
           "predict_mc": 1 if defense in ("none", "dwp") else 20, "seed": 0,
           "profile": profile, "data": "fashion-mnist", "checkpoint": f"{model}@0",
           "git_sha": "x", "utc": "2026-12-01T00:00:00Z", "correct": mask_hex(mask)}
    if offset is not None:
        out["offset"] = offset
    return out


def write_rows(path, rows):
    """``rows`` as a result CSV with the image experiments' columns (and ``offset`` when a
    row has it)."""
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in COLUMNS]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS + extra, restval="")
        writer.writeheader()
        writer.writerows(rows)
