"""Parameter-sharing copies of Gluon block trees.

``clone(net, visit)`` copies the tree of blocks under ``net`` while sharing every ``Parameter``
object with it, so the copy computes with the same weights (and sees later updates to them), and
``net`` itself is never modified. ``visit(original, copy)`` is called bottom-up on every block and
may return a replacement for the copy. This is how ``sap_mx.defend`` inserts defenses after the
ReLUs of any Gluon model and how the attacks build their gradient graph.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Callable, Iterator

from mxnet.gluon import Block, HybridBlock, nn

__all__ = ["clone", "walk", "is_relu"]


def is_relu(block: Block) -> bool:
    """True for ``nn.Activation('relu')``, including the ``act`` child that Gluon's ``Dense`` and
    ``Conv2D`` create for ``activation='relu'``."""
    return isinstance(block, nn.Activation) and getattr(block, "_act_type", None) == "relu"


def walk(block: Block) -> Iterator[Block]:
    """Every block of the tree, the root first."""
    yield block
    for child in block._children.values():
        yield from walk(child)


def _remap(value, replaced: dict):
    """``value`` with children replaced by their copies, inside lists, tuples and dicts too."""
    if isinstance(value, Block):
        return replaced.get(id(value), value)
    if isinstance(value, (list, tuple)) and any(id(v) in replaced for v in value):
        return type(value)(_remap(v, replaced) for v in value)
    if isinstance(value, dict) and any(id(v) in replaced for v in value.values()):
        return {k: _remap(v, replaced) for k, v in value.items()}
    return value


def clone(net: Block, visit: Callable[[Block, Block], Block] | None = None) -> Block:
    """Copy ``net``'s block tree, sharing its parameters; see the module docstring."""
    memo: dict[int, Block] = {}

    def copy_block(block: Block) -> Block:
        if id(block) in memo:  # a block used twice stays one block in the copy
            return memo[id(block)]
        dup = copy.copy(block)  # shallow: Parameters, ParameterDict and scopes are shared
        state = dup.__dict__
        replaced = {id(child): copy_block(child) for child in block._children.values()}
        for key, value in block.__dict__.items():  # attributes that hold children
            new_value = _remap(value, replaced)
            if new_value is not value:
                state[key] = new_value
        state["_children"] = OrderedDict((name, replaced[id(child)])
                                         for name, child in block._children.items())
        state["_reg_params"] = dict(block._reg_params)
        state["_forward_hooks"] = OrderedDict(block._forward_hooks)
        state["_forward_pre_hooks"] = OrderedDict(block._forward_pre_hooks)
        if isinstance(dup, HybridBlock):
            dup._clear_cached_op()
            state["_flags"] = list(block._flags)
        result = visit(block, dup) if visit is not None else dup
        memo[id(block)] = result
        return result

    out = copy_block(net)
    if isinstance(out, HybridBlock) and getattr(net, "_active", False):
        out.hybridize(True, **dict(net._flags))  # new blocks inside join the cached graph
    return out
