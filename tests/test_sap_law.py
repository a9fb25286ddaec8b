"""The law of SAP (Algorithm 1) for both backends, against exact computations.

Every test draws many independent rows in one call (each row of a batch is one example), with a
fixed seed, and compares with the law of r draws with replacement from p = |h| / sum |h|. The
independent-Bernoulli variant has the same marginals and must fail the joint-law tests.
"""
import itertools
import math
from collections import Counter

import mxnet as mx
import numpy as np
import pytest
from scipy import stats

from sap_mx import ops


def draw_masks(h, rows, frac, independent=False, relu=False):
    x = mx.nd.array(np.tile(np.asarray(h, dtype=np.float32), (rows, 1)))
    out, mask = ops.sap_with_mask(mx.nd, x, frac, independent=independent, relu=relu)
    return x.asnumpy(), out.asnumpy(), mask.asnumpy()


def kept_set_law(p, r):
    """Exact law of the set of indices drawn at least once in r draws from p (enumeration)."""
    law = Counter()
    for seq in itertools.product(range(len(p)), repeat=r):
        prob = math.prod(p[i] for i in seq)
        if prob > 0:
            law[frozenset(seq)] += prob
    return law


def chi_square_pvalue(observed: Counter, expected: dict, n: int) -> float:
    keys = sorted(expected, key=sorted)
    assert set(observed) <= set(keys), "a kept set of probability 0 was drawn"
    obs = np.array([observed.get(k, 0) for k in keys], dtype=float)
    exp = np.array([expected[k] * n for k in keys])
    return stats.chisquare(obs, exp).pvalue


def kept_sets(mask):
    return Counter(frozenset(np.flatnonzero(row).tolist()) for row in mask > 0)


# a zero entry (never kept) and a negative one (|h| counts)
H_SMALL = [0.5, 0.0, -0.3, 0.2]
P_SMALL = [0.5, 0.0, 0.3, 0.2]


@pytest.mark.parametrize("frac, r", [(0.75, 3), (0.5, 2)])
def test_joint_law_of_kept_set_matches_enumeration(backend, frac, r):
    rows = 20000
    _, _, mask = draw_masks(H_SMALL, rows, frac)
    law = kept_set_law([p for p in P_SMALL], r)
    assert chi_square_pvalue(kept_sets(mask), law, rows) > 1e-3


def test_independent_bernoulli_keeps_fail_the_joint_law(backend):
    rows = 20000
    _, _, mask = draw_masks(H_SMALL, rows, 0.75, independent=True)
    observed = kept_sets(mask)
    law = kept_set_law(P_SMALL, 3)
    # it keeps nothing sometimes, which r >= 1 draws never do
    assert observed.get(frozenset(), 0) > 0 and law.get(frozenset(), 0) == 0
    observed.pop(frozenset(), None)
    keys = [k for k in law if k]
    obs = np.array([observed.get(k, 0) for k in keys], float)
    exp = np.array([law[k] for k in keys]) * obs.sum()
    assert stats.chisquare(obs, exp).pvalue < 1e-10


def distinct_count_law(weights, r):
    """Exact P(K = k), K = number of distinct indices in r draws from weights / sum(weights),
    by inclusion-exclusion over subsets in integer arithmetic (weights are integers)."""
    n, total = len(weights), sum(weights)
    a_j = [0] * (n + 1)  # sum over |T| = j of (weight of T)^r
    for bits in range(1 << n):
        size = bin(bits).count("1")
        a_j[size] += sum(w for i, w in enumerate(weights) if bits >> i & 1) ** r
    law = []
    for k in range(n + 1):
        num = sum((-1) ** (k - j) * math.comb(n - j, k - j) * a_j[j] for j in range(k + 1))
        law.append(num / total**r)
    return np.array(law)


def test_distinct_count_law_on_vectorised_path(backend):
    """16 non-zero entries (two 8-lane groups of the AVX2 kernel) among zeros and negatives."""
    weights = list(range(1, 17))
    h = np.zeros(24, np.float32)
    h[np.arange(0, 24, 3)] = 0.0  # explicit zeros stay zero
    slots = [j for j in range(24) if j % 3 != 0]
    for w, j in zip(weights, slots, strict=True):
        h[j] = w if j % 2 else -w
    r = int(0.7 * 24)
    assert r == 16
    rows = 40000
    _, _, mask = draw_masks(h, rows, 0.7)
    assert not (mask[:, np.arange(0, 24, 3)] > 0).any()
    counts = np.bincount((mask > 0).sum(axis=1), minlength=17)
    law = distinct_count_law(weights, r)
    assert abs(law.sum() - 1) < 1e-12
    keep = law * rows >= 5  # merge the rare tails
    obs = np.concatenate([counts[keep], [counts[~keep].sum()]])
    exp = np.concatenate([law[keep], [law[~keep].sum()]]) * rows
    assert stats.chisquare(obs, exp).pvalue > 1e-3

    _, _, bern = draw_masks(h, rows, 0.7, independent=True)
    counts_b = np.bincount((bern > 0).sum(axis=1), minlength=17)
    obs_b = np.concatenate([counts_b[keep], [counts_b[~keep].sum()]])
    assert stats.chisquare(obs_b, exp).pvalue < 1e-10


def marginal_keep_z(h, frac, rows, independent=False):
    w = np.abs(np.asarray(h, np.float64))
    p = w / w.sum()
    r = max(1, int(frac * len(h)))
    _, _, mask = draw_masks(h, rows, frac, independent)
    q = 1 - (1 - p) ** r
    freq = (mask > 0).mean(axis=0)
    sd = np.sqrt(np.maximum(q * (1 - q), 1e-12) / rows)
    return (freq - q) / sd, q, freq


@pytest.mark.parametrize("frac", [0.3, 1.0, 3.0, 40.0])
def test_marginal_keep_probabilities(backend, frac):
    """P(j kept) = 1 - (1 - p_j)^r, including large r where Poisson means exceed 30."""
    rng = np.random.default_rng(1)
    h = np.where(rng.random(40) < 0.4, 0.0, rng.exponential(1.0, 40) ** 2).astype(np.float32)
    z, q, freq = marginal_keep_z(h, frac, 10000)
    assert np.all(freq[q == 0] == 0)
    assert np.abs(z[q > 0]).max() < 5


def test_kept_values_are_scaled_by_inverse_keep_probability(backend):
    h = np.array([3.0, 0.0, -1.0, 0.5, 2.0, 0.25, 0.0, 1.5, 4.0, -0.1], np.float32)
    x, out, mask = draw_masks(h, 500, 1.0)
    p = np.abs(h.astype(np.float64)) / np.abs(h).sum()
    with np.errstate(divide="ignore"):
        scale = 1.0 / (1.0 - (1.0 - p) ** len(h))  # inf where p = 0: never kept
    kept = mask > 0
    np.testing.assert_allclose(mask[kept], np.broadcast_to(scale, mask.shape)[kept], rtol=2e-6)
    np.testing.assert_allclose(out, x * mask, rtol=0, atol=0)
    assert np.all(mask[~kept] == 0)


@pytest.mark.parametrize("magnitude", [1e-43, 1.0, 1e35])
def test_kept_values_on_long_rows_of_any_magnitude(backend, magnitude):
    """Long rows (p < 1/64: the native operator's vector path) keep h / (1 - (1 - p)^r) too,
    also where the row's sum lies outside what that path's float constants hold (a sum of
    subnormal activations below ~3e-39, or above ~8e37); those rows take the scalar kernels."""
    rng = np.random.default_rng(5)
    base = rng.exponential(1.0, 3000) * np.where(rng.random(3000) < 0.3, 0.0, 1.0)
    h = (base * magnitude).astype(np.float32)
    _, _, mask = draw_masks(h, 8, 1.0)
    hd = np.abs(h.astype(np.float64))
    p = hd / hd.sum()
    with np.errstate(divide="ignore"):
        scale = -1.0 / np.expm1(len(h) * np.log1p(-p))  # inf where p = 0: never kept
    kept = mask > 0
    assert kept.sum() > 8 * 1000
    np.testing.assert_allclose(mask[kept], np.broadcast_to(scale, mask.shape)[kept], rtol=2e-6)
    assert np.all(mask[~kept] == 0)


def test_unbiased(backend):
    rng = np.random.default_rng(2)
    h = np.where(rng.random(64) < 0.5, 0.0, rng.exponential(1.0, 64)).astype(np.float32)
    rows = 20000
    _, out, _ = draw_masks(h, rows, 1.0)
    mean, sd = out.mean(axis=0), out.std(axis=0)
    nz = h != 0
    z = (mean[nz] - h[nz]) / (sd[nz] / np.sqrt(rows))
    assert np.abs(z).max() < 5
    assert np.all(out[:, ~nz] == 0)


def test_one_draw_when_frac_is_tiny(backend):
    """r = max(1, int(frac * a)): one draw keeps exactly one entry, chosen with probability p."""
    h = np.array([1.0, 2.0, 0.0, 5.0, 2.0], np.float32)
    _, _, mask = draw_masks(h, 20000, 1e-6)
    kept = (mask > 0).sum(axis=1)
    assert np.all(kept == 1)
    which = np.bincount(np.argmax(mask > 0, axis=1), minlength=5)
    p = h.astype(np.float64) / h.sum()
    assert which[2] == 0
    assert stats.chisquare(which[p > 0], p[p > 0] * 20000).pvalue > 1e-3
    # the single kept entry is scaled by 1 / (1 - (1 - p)^1) = 1 / p
    picked = np.argmax(mask > 0, axis=1)
    np.testing.assert_allclose(mask[np.arange(len(mask)), picked], 1 / p[picked], rtol=2e-6)


def test_zero_rows_pass_through_and_nan_rows_give_nan(backend):
    x = mx.nd.array([[0, 0, 0, 0], [1, 0, 2, 3], [0, 0, 0, 0], [1, np.nan, 1, 1],
                     [1, np.inf, 0, 0]])
    out, mask = ops.sap_with_mask(mx.nd, x, 1.0)
    out, mask = out.asnumpy(), mask.asnumpy()
    assert np.all(out[[0, 2]] == 0) and np.all(mask[[0, 2]] == 0)
    assert np.isfinite(out[1]).all()
    assert np.isnan(out[3]).all() and np.isnan(out[4]).all()


def test_relu_fusion_equals_relu_then_sap(backend):
    x = mx.nd.random.normal(0, 1, (50, 3, 4, 4))
    mx.random.seed(7)
    fused, mask_f = ops.sap_with_mask(mx.nd, x, 1.0, relu=True)
    mx.random.seed(7)
    plain, mask_p = ops.sap_with_mask(mx.nd, mx.nd.relu(x), 1.0)
    np.testing.assert_array_equal(fused.asnumpy(), plain.asnumpy())
    np.testing.assert_array_equal(mask_f.asnumpy(), mask_p.asnumpy())


def test_backends_agree_in_distribution():
    """Same law from both backends: kept-count histograms are statistically indistinguishable."""
    rng = np.random.default_rng(3)
    h = rng.exponential(1.0, 30).astype(np.float32) * (rng.random(30) < 0.7)
    hist = {}
    previous = ops.backend()
    try:
        for name in ("native", "python"):
            ops.set_backend(name)
            _, _, mask = draw_masks(h, 20000, 1.0)
            hist[name] = np.bincount((mask > 0).sum(axis=1), minlength=31)
    finally:
        ops.set_backend(previous)
    table = np.stack([hist["native"], hist["python"]])
    table = table[:, table.sum(axis=0) > 10]
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_scalar_kernels_pass_the_same_law_tests():
    """CPUs without AVX2 run the scalar kernels: the native law tests again, forced onto them."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, SAP_MX_KERNELS="scalar")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
                           "-k", "native and not scalar_kernels"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]
    assert " passed" in done.stdout


def test_widths_within_eight_in_one_process(backend):
    """Regression: the per-thread workspace is reused across calls of different widths."""
    for a in (11, 17, 12, 19, 9, 16):
        x = mx.nd.random.uniform(shape=(30000, a))
        out, mask = ops.sap_with_mask(mx.nd, x, 0.2)
        assert np.isfinite(out.asnumpy()).all()
        assert ((mask.asnumpy() > 0).sum(axis=1) >= 1).all()


@pytest.mark.parametrize("relu", [False, True])
def test_nan_anywhere_gives_nan_rows_on_every_kernel_path(backend, relu):
    x = np.abs(np.random.default_rng(0).normal(size=(4, 37))).astype(np.float32) + 0.1
    x[1, 3] = np.nan    # inside the first 8-lane block
    x[2, 30] = np.nan   # in a later block
    x[3, 36] = np.inf   # in the scalar tail
    out, _ = ops.sap_with_mask(mx.nd, mx.nd.array(x), 1.0, relu=relu)
    out = out.asnumpy()
    assert np.isfinite(out[0]).all()
    assert np.isnan(out[1:]).all()


def distinct_count_moments(p, r):
    """Exact mean and variance of K = number of distinct indices in r draws from p."""
    p = np.asarray(p, np.float64)
    miss = (1 - p) ** r                                   # P(j never drawn)
    mean = float((1 - miss).sum())
    pair = (1 - p[:, None] - p[None, :]).clip(0) ** r     # P(neither i nor j drawn)
    both = 1 - miss[:, None] - miss[None, :] + pair       # P(both drawn), i != j
    q = 1 - miss
    cov = both - q[:, None] * q[None, :]
    np.fill_diagonal(cov, q * (1 - q))
    return mean, float(cov.sum())


@pytest.mark.parametrize("frac", [0.5, 1.0, 2.0])
def test_distinct_count_moments_on_long_rows(backend, frac):
    """Rows of 300 non-zero entries (many blocks of the draw correction, N above and below r):
    the mean and variance of the number of kept entries match the exact multinomial values;
    independent keeps (same marginals, larger variance) fail the variance check."""
    rng = np.random.default_rng(11)
    h = np.where(rng.random(400) < 0.25, 0.0, rng.exponential(1.0, 400) ** 1.5).astype(np.float32)
    w = np.abs(h.astype(np.float64))
    r = max(1, int(frac * h.size))
    mean, var = distinct_count_moments(w / w.sum(), r)
    rows = 20000
    for independent in (False, True):
        _, _, mask = draw_masks(h, rows, frac, independent=independent)
        k = (mask > 0).sum(axis=1).astype(np.float64)
        z_mean = (k.mean() - mean) / np.sqrt(var / rows)
        # the sample variance of K: its standard error is about var * sqrt(2 / rows) here
        z_var = (k.var(ddof=1) - var) / (var * np.sqrt(2 / rows))
        if independent:
            assert z_var > 8  # independent keeps have no negative covariance
        else:
            assert abs(z_mean) < 5 and abs(z_var) < 5, (z_mean, z_var)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("independent", [False, True])
def test_out_only_path_has_the_same_draws_and_recomputes_the_mask_exactly(backend, relu,
                                                                          independent):
    """``ops.sap`` (what the SAP blocks call) skips writing the mask and its backward pass
    recomputes it: same seed, same output, and the input gradient is grad * mask bit for bit,
    zero and NaN rows included."""
    x = mx.nd.random.normal(0, 1, (40, 3, 7, 9))
    x[5] = 0
    x[6, 0, 0, 0] = np.nan
    grad = mx.nd.random.normal(0, 1, x.shape)
    grad[5, 0, 0, 0] = np.inf  # grad * mask on a zero row: NaN there, zeros elsewhere
    mx.random.seed(21)
    out_ref, mask = ops.sap_with_mask(mx.nd, x, 1.0, independent=independent, relu=relu)
    xg = x.copy()
    xg.attach_grad()
    mx.random.seed(21)
    with mx.autograd.record():
        out = ops.sap(mx.nd, xg, 1.0, independent=independent, relu=relu)
    out.backward(grad)
    np.testing.assert_array_equal(out.asnumpy(), out_ref.asnumpy())
    np.testing.assert_array_equal(xg.grad.asnumpy(), (grad * mask).asnumpy())
    g = xg.grad.asnumpy()
    assert np.isnan(g[6]).all() and np.isnan(g[5, 0, 0, 0]) and (g[5].ravel()[1:] == 0).all()
