"""LocalSearch (Narodytska & Kasiviswanathan 2016), the black-box attack of Khan et al.'s Table 1,
following Foolbox 1.x's ``LocalSearchAttack`` (defaults r=1.5, p=10, d=5, t=5, R=150).

The image is rescaled to [-1/2, 1/2] (LB, UB). Start from a random 10% of the pixel locations.
Each round: for at most 128 of the current locations, score the image with that pixel (all
channels) set to clip(-p * sign(value)) (sign 0 counted as -1): pushed towards the opposite
bound, reaching it for p >= 1/2. Foolbox 1 set it to +p * sign(value), outside the box; clipped,
that push leaves saturated pixels (most of MNIST) unchanged, so we mirror it and every query is a
valid image. Score each probe by the probability of the true class; take the t
locations that lower it most, apply the cyclic map v -> r * v (wrapped back by UB - LB when it
leaves [LB, UB]) to their channels, stop if the image is now misclassified, else search the
(2d+1) x (2d+1) neighbourhoods of those t locations next. At most R rounds.

Only the model's outputs are queried (``predict(x) -> probabilities``), never its gradients.
"""
from __future__ import annotations

import numpy as np

from .._checks import clip_range, count_at_least_one, positive

__all__ = ["local_search"]


def local_search(predict, x: np.ndarray, label: int, *, r: float = 1.5, p: float = 10.0,
                 d: int = 5, t: int = 5, rounds: int = 150, clip=(0.0, 1.0), max_probes: int = 128,
                 rng: np.random.Generator | None = None) -> np.ndarray | None:
    """An adversarial version of the single image ``x`` (C, H, W) or (H, W), or None if the
    search fails. ``predict(batch) -> (n, classes)`` probabilities of a batch of images with the
    same shape as ``x``, in the original pixel scale ``clip``."""
    r, p = positive("r", r), positive("p", p)
    d, t = count_at_least_one("d", d), count_at_least_one("t", t)
    rounds = count_at_least_one("rounds", rounds)
    lo, hi = clip_range("clip", clip)
    rng = rng or np.random.default_rng()
    image = np.asarray(x, np.float32)
    squeeze = image.ndim == 2
    if squeeze:
        image = image[None]
    channels, height, width = image.shape
    lb, ub = -0.5, 0.5

    def normalize(im):
        return (im - (lo + hi) / 2) / (hi - lo)

    def unnormalize(im):
        return im * (hi - lo) + (lo + hi) / 2

    def query(batch):
        images = unnormalize(batch)
        probs = np.asarray(predict(images[:, 0] if squeeze else images))
        return probs

    def cyclic(v):
        out = r * v
        out = np.where(out < lb, out + (ub - lb), out)
        out = np.where(out > ub, out - (ub - lb), out)
        return np.clip(out, lb, ub)

    current = normalize(image)
    n_start = max(1, int(0.1 * height * width))
    flat = rng.permutation(height * width)[:n_start]
    locations = np.stack([flat // width, flat % width], axis=1)
    for _ in range(rounds):
        locations = locations[rng.permutation(len(locations))[:max_probes]]
        probes = np.repeat(current[None], len(locations), axis=0)
        ys, xs = locations[:, 0], locations[:, 1]
        sign = np.where(current[:, ys, xs] > 0, 1.0, -1.0)
        pushed = np.clip(-p * sign, lb, ub)                          # (C, L), in the box
        probes[np.arange(len(locations)), :, ys, xs] = pushed.T
        scores = query(probes)[:, label]
        chosen = locations[np.argsort(scores, kind="stable")[:t]]
        for yy, xx in chosen:
            current[:, yy, xx] = cyclic(current[:, yy, xx])
        probs = query(current[None])[0]
        if int(np.argmax(probs)) != label:
            out = unnormalize(current)
            return out[0] if squeeze else out
        around = np.arange(-d, d + 1)
        near = (chosen[:, None, None, :] + np.stack(np.meshgrid(around, around, indexing="ij"),
                                                    axis=-1)[None]).reshape(-1, 2)
        inside = ((near[:, 0] >= 0) & (near[:, 0] < height)
                  & (near[:, 1] >= 0) & (near[:, 1] < width))
        locations = np.unique(near[inside], axis=0)
    return None
