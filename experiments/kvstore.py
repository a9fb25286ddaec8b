"""Several devices and several machines for image training: MXNet kvstore helpers.

``start_kvstore`` orders dist_sync's first broadcast before the first gradient push;
``AuxSync`` averages BatchNorm statistics over workers (MXNet keeps them per worker).
"""
from __future__ import annotations

import os

import mxnet as mx
from mxnet import gluon

from runkit import UsageError

__all__ = ["DMLC_VARIABLES", "check_dist_sync", "start_kvstore", "AuxSync", "aux_params"]

DMLC_VARIABLES = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER",
                  "DMLC_NUM_WORKER")


def check_dist_sync() -> None:
    """A one-line error when the parameter-server variables dist_sync needs are not set."""
    unset = [v for v in DMLC_VARIABLES if v not in os.environ]
    if unset:
        raise UsageError(f"--kvstore dist_sync needs {', '.join(unset)} set (see "
                         "docs/cifar-training.md, 'Several devices, several machines')")


def aux_params(net):
    return [p for name, p in sorted(net._collect_params_with_prefix().items())
            if p.grad_req == "null" and ("running" in name)]


def start_kvstore(trainer: gluon.Trainer) -> None:
    """Put the Trainer's parameters into its kvstore now, and wait until every worker has them.

    MXNet otherwise does this inside the first ``step()``: it broadcasts each parameter (rank 0
    pushes, every worker pulls) and then at once pushes that step's gradient for the same key.
    On CPU the pull and the push share no engine variable (``kvstore_dist.h`` swaps the push
    buffer, "this imposes ordering that the second push happens after the first pull" holds
    only from the second step on), so a worker's gradient push can reach the server before its
    own pull: that worker then takes the summed gradient for the weights and the workers part
    for good.  Broadcasting here, and waiting for it, orders the two.
    """
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    mx.nd.waitall()


class AuxSync:
    """Average BatchNorm statistics over dist_sync workers (MXNet leaves them per worker)."""

    KEY_OFFSET = 1_000_000  # keys clear of the Trainer's parameter indices

    def __init__(self, kv, net):
        self.kv, self.params = kv, aux_params(net)
        for i, p in enumerate(self.params):
            kv.init(self.KEY_OFFSET + i, mx.nd.zeros_like(p.list_data()[0]))

    def __call__(self):
        for i, p in enumerate(self.params):
            total = mx.nd.zeros_like(p.list_data()[0])
            self.kv.push(self.KEY_OFFSET + i, p.list_data()[0])
            self.kv.pull(self.KEY_OFFSET + i, out=total)
            p.set_data(total / self.kv.num_workers)
