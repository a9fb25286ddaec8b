"""Accuracy, reliability bins and ECE against a hand-worked example."""
import math

import mxnet as mx
import numpy as np
import pytest

from sap_mx import metrics
from sap_mx.metrics import accuracy, calibration_bins, expected_calibration_error

# five predictions, three classes; worked by hand with two bins (0, .5] and (.5, 1]:
#   conf .9 right, .8 wrong, .6 right -> bin 2: 3 examples, confidence 2.3/3, accuracy 2/3
#   conf .5 right (boundary -> bin 1), .4 wrong -> bin 1: 2 examples, confidence .45, accuracy .5
#   ECE = 2/5 * |.5 - .45| + 3/5 * |2/3 - 2.3/3| = .02 + .06 = .08
PROBS = np.array([[0.9, 0.05, 0.05], [0.8, 0.2, 0.0], [0.2, 0.6, 0.2], [0.5, 0.3, 0.2],
                  [0.4, 0.3, 0.3]])
LABELS = np.array([0, 1, 1, 0, 1])


def test_accuracy():
    assert accuracy(PROBS, LABELS) == pytest.approx(3 / 5)
    assert accuracy(mx.nd.array(PROBS), mx.nd.array(LABELS)) == pytest.approx(3 / 5)


def test_bins_by_hand():
    bins = calibration_bins(PROBS, LABELS, n_bins=2)
    assert [(b["lo"], b["hi"], b["count"]) for b in bins] == [(0.0, 0.5, 2), (0.5, 1.0, 3)]
    assert bins[0]["confidence"] == pytest.approx(0.45) and bins[0]["accuracy"] == 0.5
    assert bins[1]["confidence"] == pytest.approx(2.3 / 3)
    assert bins[1]["accuracy"] == pytest.approx(2 / 3)


def test_ece_by_hand():
    assert expected_calibration_error(PROBS, LABELS, n_bins=2) == pytest.approx(0.08)


def test_empty_bins_are_nan_and_ignored():
    bins = calibration_bins(PROBS, LABELS, n_bins=10)
    assert sum(b["count"] for b in bins) == 5
    assert math.isnan(bins[0]["accuracy"]) and bins[0]["count"] == 0
    # ten bins: .4 -> bin 4, .5 -> 5, .6 -> 6, .8 -> 8, .9 -> 9; each bin holds one prediction
    assert [b["count"] for b in bins] == [0, 0, 0, 1, 1, 1, 0, 1, 1, 0]
    expected = (abs(0 - .4) + abs(1 - .5) + abs(1 - .6) + abs(0 - .8) + abs(1 - .9)) / 5
    assert expected_calibration_error(PROBS, LABELS, n_bins=10) == pytest.approx(expected)


def test_perfectly_calibrated_has_zero_ece():
    # in each bin the accuracy equals the confidence
    probs = np.array([[0.75, 0.25]] * 4 + [[1.0, 0.0]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 0])
    assert expected_calibration_error(probs, labels, n_bins=4) == pytest.approx(0.0)


@pytest.mark.parametrize("probs, labels, match", [
    (np.ones((3, 2)) / 2, np.zeros(2), "probs must be"),
    (np.ones(3), np.zeros(3), "probs must be"),
])
def test_bad_shapes(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(probs, labels)


def test_bad_bins():
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        calibration_bins(PROBS, LABELS, n_bins=0)


# ---------------------------------------------------------------------------------------------
# paired comparisons on the same images
# ---------------------------------------------------------------------------------------------
def test_mcnemar_matches_scipys_exact_binomial_test():
    from scipy.stats import binomtest
    for only_a, only_b in ((0, 0), (3, 0), (10, 4), (25, 40), (7, 7), (120, 95)):
        expected = 1.0 if only_a + only_b == 0 else binomtest(
            only_a, only_a + only_b, 0.5).pvalue
        assert abs(metrics.mcnemar_p(only_a, only_b) - expected) < 1e-12, (only_a, only_b)


def test_paired_difference_of_correctness_masks():
    rng = np.random.default_rng(0)
    a = rng.random(1000) < 0.8
    b = a.copy()
    flip = rng.choice(1000, 60, replace=False)
    b[flip[:45]] = False     # b loses 45 images a gets ...
    b[flip[45:]] = True      # ... and may gain up to 15
    r = metrics.paired_difference(a, b)
    assert r.diff == pytest.approx(a.mean() - b.mean())
    assert (r.only_a, r.only_b) == (int((a & ~b).sum()), int((~a & b).sum()))
    d = a.astype(float) - b.astype(float)
    assert r.se == pytest.approx(d.std(ddof=1) / np.sqrt(1000))
    assert r.lo == pytest.approx(r.diff - 1.96 * r.se)
    assert r.hi == pytest.approx(r.diff + 1.96 * r.se)
    # pairing: far smaller than the error of two independent accuracies
    independent = np.sqrt(a.mean() * (1 - a.mean()) / 1000 + b.mean() * (1 - b.mean()) / 1000)
    assert r.se < independent / 2
    assert r.p < 0.01 and metrics.paired_difference(a, a).p == 1.0


def test_paired_difference_coverage_under_the_null():
    """Two models equally good, errors independent: the 95% interval covers 0 about 95% of
    the time, and McNemar rejects at 5% about 5% of the time (at most)."""
    rng = np.random.default_rng(1)
    cover = reject = 0
    for _ in range(400):
        a, b = rng.random(500) < 0.7, rng.random(500) < 0.7
        r = metrics.paired_difference(a, b)
        cover += r.lo <= 0 <= r.hi
        reject += r.p < 0.05
    assert 0.92 <= cover / 400 <= 0.98
    assert reject / 400 <= 0.075


def test_ece_standard_error_is_the_binomial_error_of_the_bins():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(10) * 0.3, 4000)
    y = np.array([rng.choice(10, p=row) for row in p])  # calibrated by construction
    bins = metrics.calibration_bins(p, y, 10)
    se = metrics.ece_standard_error(bins)
    # the ECE of calibrated predictions is of the order of its standard error
    assert 0 < se < 0.02 and metrics.expected_calibration_error(p, y) < 4 * se


def test_bootstrap_relative_change_resamples_the_games_in_pairs():
    """Game i of both agents shares its seeds, so the games are resampled together: an agent
    that scores 1.2 times the other in every game changes by exactly +20% in every resample
    (resampling each agent on its own would give a wide interval around it)."""
    rng = np.random.default_rng(3)
    base = rng.uniform(50, 500, 30)        # games of very different length and score
    change, lo, hi = metrics.bootstrap_relative_change(1.2 * base, base)
    assert change == pytest.approx(20) and lo == pytest.approx(20) and hi == pytest.approx(20)
    noisy = metrics.bootstrap_relative_change(base + rng.normal(0, 50, 30), base, seed=1)
    assert noisy[1] < noisy[0] < noisy[2]


def test_bootstrap_interval_is_the_same_on_every_call_and_covers_the_mean():
    rng = np.random.default_rng(4)
    cover = 0
    for _ in range(200):
        x = rng.normal(10, 3, 40)
        value, lo, hi = metrics.bootstrap_interval(lambda a: a.mean(axis=-1), x, resamples=2000)
        assert (value, lo, hi) == metrics.bootstrap_interval(lambda a: a.mean(axis=-1), x,
                                                             resamples=2000)
        cover += lo <= 10 <= hi
    assert 0.88 <= cover / 200 <= 0.99   # percentile intervals run a little short at n = 40
    assert np.isnan(metrics.bootstrap_relative_change([1.0, 2.0], [0.0, 0.0])[0])
    with pytest.raises(ValueError):
        metrics.bootstrap_interval(lambda a: a.mean(axis=-1), [1.0])
