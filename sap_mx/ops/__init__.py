"""The SAP sampler as an MXNet operator, with two interchangeable backends.

``native``
    ``sap_ops.cc`` loaded through MXNet's external-operator library interface (``lib_api.h``):
    exact sampler (Poisson counts corrected to exactly r draws, see the source), OpenMP over
    examples, CPU only, float32 input. Built with ``python -m sap_mx.ops.build`` (``make
    install`` does it) or on first use. Its backward pass writes the input gradient: with
    ``grad_req='add'`` on a variable fed *directly* into the operator (``F.sapmx_sap``) the
    gradient is overwritten, not accumulated (MXNet's external-operator interface does not pass
    the request); :func:`sap` and :func:`sap_with_mask` put a flatten in between, and there
    accumulation works.
``python``
    A Python custom operator around :func:`sap_numpy`: the multinomial counts of Algorithm 1
    drawn by NumPy's exact multinomial sampler. No compiler needed, any context (data is copied
    to the host), roughly an order of magnitude slower.

Both take ``data`` and return ``(out, mask)`` with ``out = data * mask``; the backward pass is
``grad * mask``. Both draw their randomness from MXNet's generator (the native operator from
its CPU random state, the Python one from a seed drawn by ``random.randint`` in the graph), so
``mx.random.seed`` reproduces them and every call draws afresh.

The backend is chosen when a graph is built (``hybridize`` traces once): ``set_backend`` or the
environment variable ``SAP_MX_BACKEND`` (``auto``, the default, is ``native`` when the library
builds and loads, ``python`` otherwise with a warning).
"""
from __future__ import annotations

import math
import os
import threading
import warnings

import mxnet as mx
import numpy as np

__all__ = ["BACKENDS", "backend", "set_backend", "sap", "sap_with_mask", "sap_numpy"]

BACKENDS = ("auto", "native", "python")
NATIVE_OP = "sapmx_sap"
PYTHON_OP = "sapmx_sap_python"

_lock = threading.Lock()
_requested = os.environ.get("SAP_MX_BACKEND", "auto")
_resolved: str | None = None
_native_loaded = False


def _load_native() -> None:
    """Build (if needed) and load the native library into this process."""
    global _native_loaded
    if _native_loaded:
        return
    from .build import build_library

    path = build_library()
    mx.library.load(str(path), verbose=False)
    _native_loaded = True


def set_backend(name: str) -> str:
    """Select the SAP backend for graphs built from now on; returns the resolved name.

    Parameters
    ----------
    name : {'auto', 'native', 'python'}
        ``native`` raises if the library cannot be built or loaded; ``auto`` falls back to
        ``python`` with a warning.
    """
    global _requested, _resolved
    if name not in BACKENDS:
        raise ValueError(f"unknown SAP backend {name!r}; valid: {', '.join(BACKENDS)}")
    with _lock:
        _requested, _resolved = name, None
    return backend()


def backend() -> str:
    """The backend in use ('native' or 'python'), resolving 'auto' on first call."""
    global _resolved
    with _lock:
        if _resolved is not None:
            return _resolved
        if _requested not in BACKENDS:
            raise ValueError(f"SAP_MX_BACKEND={_requested!r} is not a backend; valid: "
                             f"{', '.join(BACKENDS)}")
        if _requested == "python":
            _resolved = "python"
        elif _requested == "native":
            _load_native()
            _resolved = "native"
        else:
            try:
                _load_native()
                _resolved = "native"
            except Exception as err:  # noqa: BLE001 - no compiler, old glibc, read-only...
                warnings.warn(f"sap_mx: native SAP operator unavailable ({err}); using the slower "
                              "Python sampler (same law). Run `python -m sap_mx.ops.build` to "
                              "see why.",
                              RuntimeWarning, stacklevel=2)
                _resolved = "python"
        return _resolved


def sap_with_mask(F, x, frac: float, independent: bool = False, relu: bool = False):
    """``(out, mask)`` of SAP applied to ``x`` (``F`` is ``mx.nd`` or ``mx.sym``), out = x * mask.

    ``relu=True`` computes SAP(max(x, 0)) in one operator: the values and gradients of a ReLU
    followed by SAP, without materialising the ReLU output.
    """
    flags = dict(independent=int(bool(independent)), relu=int(bool(relu)))
    if backend() == "native":
        outputs = getattr(F, NATIVE_OP)(_rows(F, x), frac=float(frac), **flags)
        return _unrows(F, outputs[0], x), _unrows(F, outputs[1], x)
    seed = F.random.randint(low=0, high=2**31 - 1, shape=(1,), dtype="int32")
    outputs = F.Custom(x, seed, op_type=PYTHON_OP, frac=repr(float(frac)), **flags)
    return outputs[0], outputs[1]


def sap(F, x, frac: float, independent: bool = False, relu: bool = False):
    """SAP applied to ``x``: the ``out`` of :func:`sap_with_mask`.

    The native operator is asked for ``out`` alone (``with_mask=0``): it skips writing the mask,
    and its backward pass recomputes the mask bit for bit from ``x`` and ``out``. Same draws,
    values and gradients as :func:`sap_with_mask` under the same seed.
    """
    if backend() == "native":
        out = getattr(F, NATIVE_OP)(_rows(F, x), frac=float(frac),
                                    independent=int(bool(independent)), relu=int(bool(relu)),
                                    with_mask=0)
        return _unrows(F, out[0] if isinstance(out, (list, tuple)) else out, x)
    return sap_with_mask(F, x, frac, independent, relu)[0]


def _rows(F, x):
    """``x`` as (batch, entries): the same rows, in the same order, as the operator would see.

    MXNet built with oneDNN holds most 4-D activations in a blocked layout. Before an external
    operator runs, MXNet converts such an input to the default layout in a buffer it allocates
    and frees on every call, and glibc returns buffers that large to the kernel, so calls
    page-fault them back in (~20 ms more per ResNet-20 forward at batch 128, in some calls).
    Flatten is oneDNN-aware: in a graph it does the same conversion into memory that the
    graph's static plan owns. (Not ``NDArray.reshape``: on a oneDNN-layout array it returns a
    converted copy that autograd does not record, and the gradient would stop there.) A 0-d
    NDArray goes to the operator as it is, which rejects it. The way back, ``reshape_like``,
    needs ``x``'s full shape, so a hybridized block's partial shape inference with an unknown
    batch size fails there.
    """
    if isinstance(x, mx.nd.NDArray) and x.ndim == 0:
        return x
    return F.flatten(x)


def _unrows(F, y, x):
    """The operator's (batch, entries) output ``y`` in ``x``'s shape."""
    return y if isinstance(x, mx.nd.NDArray) and x.ndim == 0 else F.reshape_like(y, x)


# ---------------------------------------------------------------------------------------------
# portable Python backend
# ---------------------------------------------------------------------------------------------
def sap_numpy(x: np.ndarray, seed: int, frac: float, independent: bool = False, relu: bool = False):
    """Algorithm 1 in NumPy (float64); returns ``(out, mask)`` in ``x``'s dtype.

    Per example (first axis): p = |h| / sum|h|, r = max(1, int(frac * a)) draws with replacement
    (the counts of one multinomial draw), kept entries scaled by 1 / (1 - (1 - p)^r). All-zero
    examples give zeros; examples holding NaN/Inf give NaN.
    """
    rows = x.shape[0]
    a = x.size // rows if rows else 0
    if rows == 0 or a == 0:
        return x.copy(), np.zeros_like(x)
    rng = np.random.default_rng(seed)
    r = max(1, int(frac * a))
    flat = x.reshape(rows, a).astype(np.float64)
    w = np.abs(np.maximum(flat, 0.0) if relu else flat)
    total = w.sum(axis=1, keepdims=True)
    good = np.isfinite(total) & (total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(good, w / np.where(good, total, 1.0), 0.0)
        scale = -1.0 / np.expm1(r * np.log1p(-p))  # inf where p == 0; never kept there
    if independent:
        keep = rng.random((rows, a)) * scale < 1.0
    else:
        pvals = np.where(good, p, 1.0 / a)  # rows without mass: any law, their output is 0
        keep = rng.multinomial(r, pvals) > 0
    mask = np.where(keep & (p > 0), scale, 0.0)
    mask[~np.isfinite(total[:, 0])] = np.nan
    mask = mask.reshape(x.shape).astype(x.dtype)
    return (np.maximum(x, 0) if relu else x) * mask, mask


class _SAPPython(mx.operator.CustomOp):
    def __init__(self, frac: float, independent: bool, relu: bool):
        super().__init__()
        self.frac, self.independent, self.relu = frac, independent, relu

    def forward(self, is_train, req, in_data, out_data, aux):
        seed = int(in_data[1].asnumpy().ravel()[0])
        out, mask = sap_numpy(in_data[0].asnumpy(), seed, self.frac, self.independent, self.relu)
        self.assign(out_data[0], req[0], mx.nd.array(out, ctx=in_data[0].context))
        self.assign(out_data[1], req[1], mx.nd.array(mask, ctx=in_data[0].context))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0] * out_data[1])
        self.assign(in_grad[1], req[1], 0)


@mx.operator.register(PYTHON_OP)
class _SAPPythonProp(mx.operator.CustomOpProp):
    def __init__(self, frac="1.0", independent="0", relu="0"):
        super().__init__(need_top_grad=True)
        self.frac = float(frac)
        self.independent = str(independent) in ("1", "True", "true")
        self.relu = str(relu) in ("1", "True", "true")
        if not (self.frac > 0 and math.isfinite(self.frac)):
            raise ValueError(f"frac must be a finite number > 0, got {frac}")

    def list_arguments(self):
        return ["data", "seed"]

    def list_outputs(self):
        return ["output", "mask"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0], in_shape[0]], []

    def infer_type(self, in_type):
        return in_type, [in_type[0], in_type[0]], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return [out_grad[0], out_data[1]]

    def create_operator(self, ctx, shapes, dtypes):
        return _SAPPython(self.frac, self.independent, self.relu)
