"""Accuracy and calibration of (mean-softmax) predictions.

Calibration follows Guo et al. (2017), which the paper cites for its Fig. 4: the confidence of a
prediction is its top probability; predictions are grouped into ``n_bins`` equal-width bins
B_m = ((m-1)/M, m/M] (the first bin also takes confidence 0); a bin's accuracy is the share of
correct predictions in it and its confidence the mean confidence. The expected calibration error
is ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|.
"""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "calibration_bins", "expected_calibration_error"]


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
