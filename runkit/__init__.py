"""runkit: the run layer every driver shares (image experiments, MNIST/SDR, Atari, benchmarks).

Nothing here knows about a dataset, a model or a paper; the drivers in ``experiments/`` and
``rl/`` import it, and it imports only ``sap_mx``'s error base and atomic writer.

==============  ==================================================================================
``cli``         dataclass arguments as ``--flags``, the one seeding block, progress bars, and
                ``cli_main``: the one error path (a ``UserError`` is one ``error:`` line, exit 2)
``paths``       the repository root, results folders per profile, paths for messages
``profiles``    profiles (smoke / quick / paper / ...) as keyword-built settings, looked up by name
``rows``        ``KeyedRows``: result CSVs keyed by their settings (resumable runs)
``runs``        ``RunFolder``: lock, ``--fresh``, "already finished", checkpoints of another
                configuration, unreadable checkpoints, final files
``manifest``    ``SHA256SUMS`` of committed weights: written when a run finishes, checked on load
``figures``     ``save_figure``: atomic PNGs; ``interval_curve``: a measured curve with its interval
``styles``      ``Styles``: a label -> look registry the drivers fill (one look per label)
==============  ==================================================================================
"""
from sap_mx.errors import UserError

from . import manifest
from .cli import UsageError, arg, cli_main, parse_dataclass_args, progress_bar, seed_all
from .paths import ROOT, rel, results_dir
from .profiles import Profiles
from .rows import KeyedRows
from .runs import RunFolder

__all__ = ["UserError", "UsageError", "arg", "cli_main", "parse_dataclass_args", "progress_bar",
           "seed_all", "ROOT", "rel", "results_dir", "Profiles", "KeyedRows", "RunFolder",
           "manifest"]
