"""Figures written the way every result is: atomically, readable by everyone."""
from __future__ import annotations

from pathlib import Path

from sap_mx.io import atomic_write

__all__ = ["save_figure", "pyplot"]


def pyplot():
    """matplotlib.pyplot on the Agg backend (no screen here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, caption: str | None = None, *, fontsize: int = 9,
                dpi: int = 110) -> Path:
    """Lay out ``fig`` (with ``caption`` as its title), write it to ``path`` atomically and
    close it; returns ``path``."""
    plt = pyplot()
    if caption:
        fig.suptitle(caption, fontsize=fontsize)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi))
    finally:
        plt.close(fig)
    return Path(path)
