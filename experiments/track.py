"""The whole real-data track of a dataset, one step after another, with the time of each step.

Runs the Make targets of the image experiments, the adaptive evaluation and Khan et al.'s table
for ``--dataset`` (Fashion-MNIST by default) and ``--profile`` (``cpu``: sized for a 2-core
machine), one MXNet job at a time, and appends one row per step to
``results/<dataset>/track.csv``: the step, its target, its exit status, its wall-clock seconds,
the commit and the UTC start and end. Every target resumes what an earlier, interrupted run
left (checkpoints per epoch, rows and per-batch side files per task), so rerunning the track
after an interruption continues it; a step that finds its work done takes seconds, and its row
says so (``resumed``: how many earlier rows the step has). Stopping the track with SIGTERM,
SIGINT or SIGHUP stops the running step and still logs its time (``exit`` is then the step's
negative signal number, or make's status), so the time of a step run over several sessions adds
up; the track then exits with status 2 before the next step.

Usage: ``python -m experiments.track [--dataset fashion-mnist] [--profile cpu] [--start STEP |
--only STEP] [--dry-run]``; ``make fashion-track``. Steps: see ``STEPS`` (the ``weights`` step
checks the committed weights against ``SHA256SUMS`` and their accuracy against ``final.json``;
trainers add their lines when runs finish).
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from runkit import UsageError, arg, cli_main, parse_dataclass_args, rel
from sap_mx.io import write_csv
from sap_mx.results import git_sha

from . import datasets

# (step, Make target): the headline first (Figs. 1b and 3, then the adaptive evaluation, whose
# driver attacks the main models first), so an interrupted track has shown the most
STEPS = (
    ("train-dense", "cifar-dense"),
    ("fig1-sap", "cifar-sap"),
    ("train-adv", "cifar-adv-train"),
    ("fig3-4-adv", "cifar-adv"),
    ("adaptive", "cifar-adaptive"),
    ("fig6-mc", "cifar-mc"),
    ("fig1c-iterative", "cifar-iterative"),
    ("fig5-baselines", "cifar-baselines"),
    ("train-dropout", "cifar-dropout-train"),
    ("fig2-dropout", "cifar-dropout"),
    ("sdr-table1", "mnist-sdr"),
    ("sdr-adaptive", "mnist-adaptive"),
    ("weights", "weights-check"),
    ("report", "report"),
)
COLUMNS = ("step", "target", "exit", "seconds", "resumed", "dataset", "profile", "seed",
           "git_sha", "utc_start", "utc_end")


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    dataset: str = arg("fashion-mnist", "image dataset (experiments/datasets.py)")
    profile: str = arg("cpu", "profile of every step (cpu: real data sized for 2 cores)")
    seed: int = arg(0, "seed of every step")
    start: str = arg("", "first step to run (default: the first)")
    only: str = arg("", "run this one step")
    dry_run: bool = arg(False, "print the commands, run nothing")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.track",
                                __doc__.split("\n\n")[0])


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Stopper:
    """Catches SIGTERM, SIGINT and SIGHUP (unless ignored, as under ``nohup``) for the whole
    track, and passes them on to the running step's process group (make and the driver under
    it: each step runs in its own session, so it would not get a terminal's signals itself).
    The track then logs the step's time and stops before the next step."""

    def __init__(self):
        self.received = 0
        self.proc: subprocess.Popen | None = None
        self._old = {}

    def __enter__(self):
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            if signal.getsignal(s) is not signal.SIG_IGN:
                self._old[s] = signal.signal(s, self._forward)
        return self

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)

    def _stop_step(self):
        proc = self.proc
        if proc is not None and proc.returncode is None:   # never a reaped (reusable) pid
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _forward(self, signum, _frame):
        self.received = self.received or signum
        self._stop_step()

    def run(self, cmd: list[str]) -> int:
        """Run one step's command in its own process group; its exit status."""
        self.proc = subprocess.Popen(cmd, start_new_session=True)
        try:
            if self.received:             # a signal came before the step had started
                self._stop_step()
            return self.proc.wait()
        finally:
            self.proc = None


def _read(path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def run(args: Args) -> list:
    dataset = datasets.get_dataset(args.dataset)
    names = [s for s, _ in STEPS]
    for flag in (args.start, args.only):
        if flag and flag not in names:
            raise UsageError(f"unknown step {flag!r}; valid: {', '.join(names)}")
    if args.start and args.only:
        raise UsageError("give --start or --only, not both")
    steps = list(STEPS[names.index(args.start):]) if args.start else list(STEPS)
    if args.only:
        steps = [s for s in steps if s[0] == args.only]
    path = dataset.results_dir(args.profile) / "track.csv"
    with _Stopper() as stopper:
        for step, target in steps:
            if stopper.received:
                raise UsageError(f"stopped by signal {stopper.received} before step {step}; "
                                 f"rerun with --start {step}")
            cmd = ["make", target, f"DATASET={args.dataset}", f"PROFILE={args.profile}",
                   f"SEED={args.seed}"]
            print(f"== {step}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            if args.dry_run:
                continue
            start, t0, sha = _utc(), time.time(), git_sha()  # the commit the step started on
            code = stopper.run(cmd)
            rows = _read(path)  # read again: another track may have logged a step meanwhile
            rows.append({"step": step, "target": target, "exit": code,
                         "seconds": round(time.time() - t0, 1),
                         "resumed": sum(1 for r in rows if r["step"] == step),
                         "dataset": args.dataset, "profile": args.profile, "seed": args.seed,
                         "git_sha": sha, "utc_start": start, "utc_end": _utc()})
            write_csv(path, [{k: r.get(k, "") for k in COLUMNS} for r in rows])
            print(f"== {step}: exit {code} after {rows[-1]['seconds']:.0f} s (logged in "
                  f"{rel(path)})", file=sys.stderr, flush=True)
            if stopper.received:
                raise UsageError(f"stopped by signal {stopper.received} during step {step} "
                                 f"after {rows[-1]['seconds']:.0f} s (logged); rerun to resume "
                                 "it")
            if code != 0:
                raise UsageError(f"step {step} ({' '.join(cmd)}) failed with exit status "
                                 f"{code}; fix it and rerun with --start {step}")
    return [] if args.dry_run else [path]


def main(argv=None) -> int:
    """Run the track; returns the exit status (2 for user mistakes and stops)."""
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
