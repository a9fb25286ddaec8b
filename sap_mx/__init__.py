"""sap_mx: Stochastic Activation Pruning (Dhillon et al., ICLR 2018) and related stochastic
defenses in MXNet/Gluon.

Public API::

    sap_mx.SAP(frac=1.0)                         # Algorithm 1 as a HybridBlock
    sap_mx.defend(net, name, **params)           # a defended copy sharing net's parameters
    sap_mx.predict_proba(net, x, mc_samples=1)   # mean softmax over stochastic passes
    sap_mx.attacks.fgsm / bim / random_noise     # attacks with Monte Carlo gradients
    sap_mx.models.resnet20() / get_model(name)   # the authors' pre-activation ResNet-20
"""
import os as _os
import sys as _sys

# MXNet 1.9.1 runs each CPU operator on a single OpenMP thread unless OMP_NUM_THREADS is set
# (measured here: ResNet-20 forward 115 ms with the default, 62 ms with 2 threads on 2 cores).
# Use every core unless the user chose otherwise; MXNet reads this when it is first imported.
if "mxnet" not in _sys.modules:
    _os.environ.setdefault("OMP_NUM_THREADS", str(_os.cpu_count() or 1))
    try:  # the GPU build bundles no CUDA: load NVIDIA's runtime wheels first (gpu extra)
        from importlib.metadata import distribution as _distribution

        _distribution("mxnet-cu112")
    except Exception:  # noqa: BLE001 - CPU build: nothing to do
        pass
    else:
        from .hardware import preload_cuda_runtime as _preload

        _preload()

from . import attacks, defenses, models, ops
from .defenses import DEFENSES, SAP, defend
from .predict import predict_proba

__version__ = "0.1.0"
__all__ = ["SAP", "defend", "DEFENSES", "predict_proba", "attacks", "defenses", "models", "ops"]
