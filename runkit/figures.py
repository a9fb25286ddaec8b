"""Figures written the way every result is: atomically, readable by everyone; and the one way a
measured curve is drawn (``interval_curve``: its points, its interval, and no line across a
gap in its grid)."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from sap_mx.io import atomic_write

__all__ = ["save_figure", "pyplot", "wrap_caption", "interval_curve"]


def pyplot():
    """matplotlib.pyplot on the Agg backend (no screen here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, caption: str | None = None, *, fontsize: int = 9,
                dpi: int = 110) -> Path:
    """Lay out ``fig`` (with ``caption`` as its title, wrapped to the figure's width), write it
    to ``path`` atomically and close it; returns ``path``. A figure made with a layout engine
    of its own (``layout="constrained"``, e.g. one of sub-figures) keeps it; any other is laid
    out tight. A matplotlib PNG holds no date (only matplotlib's version), so the same figure
    drawn twice is the same file."""
    plt = pyplot()
    if caption:
        fig.suptitle(wrap_caption(caption, fig.get_figwidth(), fontsize), fontsize=fontsize)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi))
    finally:
        plt.close(fig)
    return Path(path)


def wrap_caption(caption: str, width_in: float, fontsize: float) -> str:
    """``caption`` broken into lines that fit ``width_in`` inches at ``fontsize`` points
    (matplotlib does not wrap a suptitle: a long one runs off both edges of a narrow figure).
    A character of the default sans-serif font averages about 0.6 of the font size."""
    return textwrap.fill(caption, width=max(20, int(width_in * 72 / (0.6 * fontsize))))


def interval_curve(ax, x, y, lo, hi, style, label: str | None = None, *,
                   joined: Sequence[bool] | None = None, faded: bool = False,
                   band: bool = True, band_alpha: float = 0.15, markersize: float = 3.5):
    """Draw one measured curve on ``ax`` in ``style`` (a ``runkit.styles.Style``): the points
    ``(x, y)`` joined by lines where ``joined[i]`` (between point i and i + 1; default: all),
    the interval ``[lo, hi]`` as a band under each joined run and as an error bar on a point
    that stands alone (nothing was measured beside it: a line would claim a value between);
    ``band=False``: an error bar on every point (points far apart on x, e.g. calibration bins).
    ``label`` goes to the legend once, with the style's line and marker; ``faded`` draws the
    curve half transparent (a model the legend marks as broken)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if joined is None:
        joined = [True] * max(0, len(x) - 1)
    if len(joined) != max(0, len(x) - 1):
        raise ValueError(f"joined needs {max(0, len(x) - 1)} entries, got {len(joined)}")
    alpha = 0.45 if faded else 1.0
    kw = {**style.kwargs(), "markersize": markersize, "alpha": alpha}
    if label is not None:   # one legend entry, line and marker, however the curve is cut
        ax.plot([], [], label=label, **kw)
    starts = [0] + [i + 1 for i, j in enumerate(joined) if not j]
    for a, b in zip(starts, starts[1:] + [len(x)]):
        if b - a > 1:
            ax.plot(x[a:b], y[a:b], **kw)
        if b - a > 1 and band:
            ax.fill_between(x[a:b], lo[a:b], hi[a:b], color=style.color,
                            alpha=band_alpha * alpha, linewidth=0)
        elif b > a:
            ax.errorbar(x[a:b], y[a:b], yerr=[y[a:b] - lo[a:b], hi[a:b] - y[a:b]],
                        color=style.color, marker=style.marker, markersize=markersize,
                        linestyle="none", elinewidth=1, capsize=2, alpha=alpha)
