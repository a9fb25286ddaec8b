"""Figures written the way every result is: atomically, readable by everyone."""
from __future__ import annotations

import textwrap
from pathlib import Path

from sap_mx.io import atomic_write

__all__ = ["save_figure", "pyplot", "wrap_caption"]


def pyplot():
    """matplotlib.pyplot on the Agg backend (no screen here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, caption: str | None = None, *, fontsize: int = 9,
                dpi: int = 110) -> Path:
    """Lay out ``fig`` (with ``caption`` as its title, wrapped to the figure's width), write it
    to ``path`` atomically and close it; returns ``path``."""
    plt = pyplot()
    if caption:
        fig.suptitle(wrap_caption(caption, fig.get_figwidth(), fontsize), fontsize=fontsize)
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
