"""Helpers shared by the tests of the ``rl`` package (tests/test_rl_*.py)."""


def params(net):
    """A Gluon block's parameters as NumPy arrays, keyed by structural name."""
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
