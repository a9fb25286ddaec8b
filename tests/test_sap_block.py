"""sap_mx.SAP as a Gluon block: randomness in every mode, seeding, backward = mask."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

import sap_mx
from sap_mx import ops


def activations(shape=(8, 4, 6, 6)):
    return mx.nd.relu(mx.nd.random.normal(0, 1, shape))


@pytest.mark.parametrize("hybridize", [False, True])
def test_fresh_draws_every_call_in_every_mode(backend, hybridize):
    block = sap_mx.SAP(1.0)
    if hybridize:
        block.hybridize(static_alloc=True)
    x = activations()
    outs = [block(x).asnumpy(), block(x).asnumpy()]
    with mx.autograd.predict_mode():
        outs.append(block(x).asnumpy())
    with mx.autograd.record(train_mode=False):
        outs.append(block(x).asnumpy())
    with mx.autograd.record(train_mode=True):
        outs.append(block(x).asnumpy())
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert not np.array_equal(outs[i], outs[j]), (i, j)
    # and it prunes: some non-zero activations are zero in the output
    assert ((x.asnumpy() > 0) & (outs[0] == 0)).any()


@pytest.mark.parametrize("hybridize", [False, True])
def test_seeding_reproduces_and_different_seeds_differ(backend, hybridize):
    block = sap_mx.SAP(1.0)
    if hybridize:
        block.hybridize()
    x = activations()
    mx.random.seed(42)
    a = [block(x).asnumpy() for _ in range(2)]
    mx.random.seed(42)
    b = [block(x).asnumpy() for _ in range(2)]
    mx.random.seed(43)
    c = block(x).asnumpy()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c)


@pytest.mark.parametrize("relu", [False, True])
def test_backward_is_grad_times_mask(backend, relu):
    x = mx.nd.random.normal(0, 1, (5, 3, 4, 4))
    g = mx.nd.random.normal(0, 1, x.shape)
    x.attach_grad()
    with mx.autograd.record():
        out, mask = ops.sap_with_mask(mx.nd, x, 1.0, relu=relu)
        objective = (out * g).sum()
    objective.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), (g * mask).asnumpy())


def test_backward_through_hybridized_block_uses_the_forward_mask(backend):
    """The gradient of sum(SAP(x)) w.r.t. x is the mask of that very forward pass."""
    block = sap_mx.SAP(1.0)
    block.hybridize()
    x = activations((4, 50))
    x.attach_grad()
    with mx.autograd.record():
        out = block(x)
    out.backward()
    grad, x_np, out_np = x.grad.asnumpy(), x.asnumpy(), out.asnumpy()
    nz = x_np != 0
    np.testing.assert_allclose(grad[nz] * x_np[nz], out_np[nz], rtol=1e-6)
    assert np.all(grad[~nz] == 0)


def test_zero_map_gives_zeros_not_nan(backend):
    block = sap_mx.SAP(1.0)
    out = block(mx.nd.zeros((3, 2, 5, 5))).asnumpy()
    assert np.all(out == 0)


def test_independent_variant_is_named_and_not_default():
    assert sap_mx.SAP().independent is False
    assert "independent=True" in repr(sap_mx.SAP(independent=True))
    with pytest.raises(TypeError):
        sap_mx.SAP(1.0, True)  # keyword-only


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1", True])
def test_bad_frac(bad):
    with pytest.raises(ValueError, match="frac"):
        sap_mx.SAP(bad)


def test_native_result_does_not_depend_on_thread_count(tmp_path):
    """Row i draws from its own stream: 1 and 2 OpenMP threads give the same masks."""
    script = (
        "import mxnet as mx, numpy as np, sap_mx\n"
        "from sap_mx import ops\n"
        "ops.set_backend('native')\n"
        "mx.random.seed(5)\n"
        "x = mx.nd.relu(mx.nd.random.normal(0, 1, (16, 300)))\n"
        "np.save(__import__('sys').argv[1], ops.sap(mx.nd, x, 1.0).asnumpy())\n"
    )
    outs = []
    for threads in ("1", "2"):
        path = tmp_path / f"out{threads}.npy"
        env = dict(os.environ, SAP_MX_NUM_THREADS=threads)
        subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=True)
        outs.append(np.load(path))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_frac_is_capped():
    with pytest.raises(ValueError, match="frac must be <= 10000"):
        sap_mx.SAP(2e4)
    with pytest.raises(mx.base.MXNetError, match="at most 2\\^30"):
        previous = ops.backend()
        ops.set_backend("native")
        try:
            ops.sap(mx.nd, mx.nd.ones((1, 100)), 2e7).wait_to_read()
        finally:
            ops.set_backend(previous)


def test_gradient_accumulates_through_graph_and_layers(backend):
    """y = SAP(h) + h: dh = mask * g + g; and grad_req='add' accumulates, on a layer's input and
    on SAP's own input (the native operator ignores the request: the flatten before it matters)."""
    h = activations((3, 40))
    h.attach_grad()
    with mx.autograd.record():
        out, mask = ops.sap_with_mask(mx.nd, h, 1.0)
        y = (out + h).sum()
    y.backward()
    np.testing.assert_allclose(h.grad.asnumpy(), mask.asnumpy() + 1, rtol=1e-6)

    dense = mx.gluon.nn.Dense(20, in_units=5)
    dense.initialize()
    x = mx.nd.random.normal(0, 1, (4, 5))
    block = sap_mx.SAP(1.0)
    for subject in (lambda v: block(mx.nd.relu(dense(v))), block):  # through a layer; directly
        add = grads_of_two_seeded_passes(subject, x, "add")
        write = grads_of_two_seeded_passes(subject, x, "write")
        assert np.abs(add[0]).max() > 0
        np.testing.assert_array_equal(write[0], add[0])
        np.testing.assert_array_equal(write[1], write[0])      # 'write': the second pass replaced
        np.testing.assert_array_equal(add[1], 2 * add[0])      # 'add': it was added to the first


def grads_of_two_seeded_passes(subject, x, grad_req):
    """x.grad after each of two backward passes of subject(x).sum() under grad_req; both passes
    draw the same SAP mask (same seed), so accumulation gives exactly twice the first."""
    x = x.copy()
    x.attach_grad(grad_req=grad_req)
    grads = []
    for _ in range(2):
        mx.random.seed(7)
        with mx.autograd.record():
            z = subject(x).sum()
        z.backward()
        grads.append(x.grad.asnumpy().copy())
    return grads
