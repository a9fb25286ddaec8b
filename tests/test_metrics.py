"""Accuracy, reliability bins and ECE against a hand-worked example."""
import math

import mxnet as mx
import numpy as np
import pytest

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
    assert bins[1]["confidence"] == pytest.approx(2.3 / 3) and bins[1]["accuracy"] == pytest.approx(2 / 3)


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
