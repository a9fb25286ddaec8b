"""Monte Carlo over a stochastic model: how many copies of a batch go through one forward pass.

Defenses that draw their randomness per example (SAP, dropout, RNA, RSA) give independent draws
to every row of a batch, so K Monte Carlo samples of a batch of B examples can run as one pass
over K*B rows. Defenses that draw once per pass (RNW, RSW, SWP) need one pass per sample. Passes
are capped at ``max_rows`` rows (``SAP_MX_MAX_ROWS``, default 256): that bounds memory, and
larger passes measured slower per example for SAP on CPU (its masks fall out of cache).
"""
from __future__ import annotations

import os
from typing import Iterator

import mxnet as mx

from ._checks import count_at_least_one
from .defenses.registry import stochastic_per_pass

__all__ = ["DEFAULT_MAX_ROWS", "copies_per_pass", "tile"]

DEFAULT_MAX_ROWS = int(os.environ.get("SAP_MX_MAX_ROWS", "256"))


def copies_per_pass(net, batch: int, mc_samples: int, max_rows: int | None = None) -> Iterator[int]:
    """Yield the number of batch copies for each forward pass; they sum to ``mc_samples``."""
    mc_samples = count_at_least_one("mc_samples", mc_samples)
    max_rows = count_at_least_one("max_rows", max_rows or DEFAULT_MAX_ROWS)
    per_pass = 1 if stochastic_per_pass(net) else max(1, min(mc_samples, max_rows // max(batch, 1)))
    done = 0
    while done < mc_samples:
        k = min(per_pass, mc_samples - done)
        yield k
        done += k


def tile(x: mx.nd.NDArray, copies: int) -> mx.nd.NDArray:
    """``copies`` copies of the batch stacked along the first axis (copy-major)."""
    if copies == 1:
        return x
    return mx.nd.tile(x, reps=(copies,) + (1,) * (x.ndim - 1))
