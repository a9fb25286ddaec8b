"""Accuracy and calibration of (mean-softmax) predictions.

Calibration follows Guo et al. (2017), which the paper cites for its Fig. 4: the confidence of a
prediction is its top probability; predictions are grouped into ``n_bins`` equal-width bins
B_m = ((m-1)/M, m/M] (the first bin also takes confidence 0); a bin's accuracy is the share of
correct predictions in it and its confidence the mean confidence. The expected calibration error
is ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|.

Comparisons on the same test images (``paired_difference``): the difference of two accuracies,
its standard error from the per-image differences (smaller than two independent binomial errors
when the models are right on mostly the same images), a normal 95% interval, and the exact
McNemar test (a two-sided binomial test on the images where exactly one model is right).

Intervals the figures draw: ``wilson_interval`` (an accuracy: k of n images right; Wilson's
score interval, which stays inside [0, 1] and keeps its coverage near 0% and 100%, where the
normal interval collapses to a point), and ``bootstrap_relative_change`` (the relative change of
a mean score, e.g. an Atari agent's, over games paired by their seeds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["accuracy", "calibration_bins", "expected_calibration_error", "ece_standard_error",
           "Paired", "paired_difference", "mcnemar_p", "wilson_interval",
           "bootstrap_interval", "relative_change", "bootstrap_relative_change", "Z95"]

Z95 = 1.959963984540054   # the standard normal's 97.5% quantile: two-sided 95%


def _as_numpy(a) -> np.ndarray:
    return a.asnumpy() if hasattr(a, "asnumpy") else np.asarray(a)


def _check(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = _as_numpy(probs), _as_numpy(labels).astype(np.int64).ravel()
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0] or probs.shape[0] == 0:
        raise ValueError(f"probs must be (N, classes) and labels (N,), N >= 1; got {probs.shape} "
                         f"and {labels.shape}")
    return probs, labels


def accuracy(probs, labels) -> float:
    """Share of examples whose arg-max class is the label."""
    probs, labels = _check(probs, labels)
    return float((probs.argmax(axis=1) == labels).mean())


def calibration_bins(probs, labels, n_bins: int = 10) -> list[dict]:
    """Reliability-diagram bins: one dict per bin with ``bin`` (1-based), ``lo``, ``hi``,
    ``count``, ``confidence`` (mean top probability; NaN when empty) and ``accuracy`` (NaN when
    empty)."""
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    probs, labels = _check(probs, labels)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    # bin m (0-based) holds m/M < conf <= (m+1)/M; conf == 0 goes to the first bin
    index = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    rows = []
    for m in range(n_bins):
        inside = index == m
        count = int(inside.sum())
        rows.append({"bin": m + 1, "lo": m / n_bins, "hi": (m + 1) / n_bins, "count": count,
                     "confidence": float(conf[inside].mean()) if count else float("nan"),
                     "accuracy": float(correct[inside].mean()) if count else float("nan")})
    return rows


def expected_calibration_error(probs, labels, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-width confidence bins (see the module docstring)."""
    bins = calibration_bins(probs, labels, n_bins)
    n = sum(b["count"] for b in bins)
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"])
                     for b in bins if b["count"]))


def ece_standard_error(bins) -> float:
    """An approximate standard error of the ECE of ``calibration_bins`` rows: each bin's
    accuracy as a binomial proportion with its confidence held fixed,
    sqrt(sum_m (|B_m| / n)^2 acc_m (1 - acc_m) / |B_m|), each acc_m kept at least one image away
    from 0 and 1 (a bin of all-correct predictions is not certain). It ignores the randomness of
    the bin counts and of the absolute value near zero, so read it as a scale, not an exact
    interval."""
    n = sum(int(b["count"]) for b in bins)
    if n == 0:
        raise ValueError("no examples in the bins")
    var = 0.0
    for b in bins:
        count = int(b["count"])
        if count:  # a bin's accuracy floored at one image from 0 and 1 (never zero variance)
            p = min(max(float(b["accuracy"]), 1 / count), 1 - 1 / count) if count > 1 else 0.5
            var += (count / n) ** 2 * p * (1 - p) / count
    return math.sqrt(var)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: under 'equally accurate', each of the ``only_a + only_b``
    images where exactly one model is right is a fair coin."""
    m = only_a + only_b
    if m == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Paired:
    """The difference of two accuracies on the same images (fractions; see the module
    docstring)."""

    diff: float        # mean(a) - mean(b)
    se: float          # standard error of diff, from the per-image differences
    lo: float          # 95% interval: diff -/+ 1.96 se
    hi: float
    p: float           # exact McNemar (two-sided); 1.0 for scores that are not 0/1
    n: int
    only_a: int        # images only a gets right
    only_b: int


def paired_difference(a, b) -> Paired:
    """``a`` minus ``b`` where both are per-image scores on the same images: booleans
    (correct or not) or means of booleans (e.g. over several lambdas). The p-value is McNemar's
    for booleans; for other scores it is the normal approximation of the paired difference."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired_difference needs two 1-d score arrays of one length >= 2, "
                         f"got {a.shape} and {b.shape}")
    d = a - b
    n = len(d)
    diff, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))
    binary = np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all()
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    if binary:
        p = mcnemar_p(only_a, only_b)
    elif se == 0:
        p = 1.0 if diff == 0 else 0.0
    else:
        p = math.erfc(abs(diff) / se / math.sqrt(2))
    return Paired(diff, se, diff - 1.96 * se, diff + 1.96 * se, p, n, only_a, only_b)


def wilson_interval(k, n, z: float = Z95):
    """Wilson's score interval of a proportion, ``k`` successes in ``n`` trials: (lo, hi) with
    centre (p + z^2 / 2n) / (1 + z^2 / n) and half-width
    z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2), p = k / n (95% with the default ``z``).
    ``k`` and ``n`` may be arrays (element-wise); ``n`` must be positive and 0 <= k <= n."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError(f"wilson_interval needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exact at the ends (all wrong: lo = 0; all right: hi = 1), not off by rounding
    lo = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def bootstrap_interval(statistic, *samples, resamples: int = 10_000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float, float]:
    """``statistic`` of ``samples`` (1-d arrays of one length, paired: element i of each
    belongs together, e.g. game i of two agents, which shares its seeds) and its percentile
    bootstrap interval: ``resamples`` draws of the indices with replacement, from a generator
    seeded with ``seed`` (the same interval on every call). ``statistic`` takes arrays of shape
    (draws, n), one per sample, and returns one value per draw; draws where it is not finite
    are left out. Returns (value, lo, hi)."""
    samples = [np.asarray(a, dtype=np.float64) for a in samples]
    if not samples or any(a.ndim != 1 or a.shape != samples[0].shape for a in samples) \
            or len(samples[0]) < 2:
        raise ValueError(f"bootstrap_interval needs 1-d samples of one length >= 2, got "
                         f"{[a.shape for a in samples]}")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(statistic(*(a[None] for a in samples))[0])
        index = np.random.default_rng(seed).integers(0, len(samples[0]),
                                                     (resamples, len(samples[0])))
        draws = np.asarray(statistic(*(a[index] for a in samples)), dtype=np.float64)
    draws = draws[np.isfinite(draws)]
    if not draws.size:
        return value, float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return value, float(lo), float(hi)


def relative_change(new, base):
    """100 (mean(new) - mean(base)) / |mean(base)| along the last axis (inf or NaN where the
    base mean is 0)."""
    b = np.asarray(base).mean(axis=-1)
    return 100 * (np.asarray(new).mean(axis=-1) - b) / np.abs(b)


def bootstrap_relative_change(new, base, *, resamples: int = 10_000, level: float = 0.95,
                              seed: int = 0) -> tuple[float, float, float]:
    """The relative change of a mean score in % (``relative_change``) and its paired
    percentile bootstrap interval (``bootstrap_interval``: game i of both agents shares its
    seeds); resamples whose base mean is 0 are left out. NaN when the base mean is 0."""
    if len(new) and float(np.mean(base)) == 0:
        return float("nan"), float("nan"), float("nan")
    return bootstrap_interval(relative_change, new, base, resamples=resamples, level=level,
                              seed=seed)
