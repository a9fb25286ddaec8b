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


def clone(net: Block, visit: Callable[[Block, Block], Block] | None = None) -> Block:
    """Copy ``net``'s block tree, sharing its parameters; see the module docstring."""
    memo: dict[int, Block] = {}

    def copy_block(block: Block) -> Block:
        if id(block) in memo:  # a block used twice stays one block in the copy
            return memo[id(block)]
        dup = copy.copy(block)  # shallow: Parameters, ParameterDict and scopes are shared
        state = dup.__dict__
        state["_children"] = OrderedDict()
        state["_reg_params"] = dict(block._reg_params)
        state["_forward_hooks"] = OrderedDict(block._forward_hooks)
        state["_forward_pre_hooks"] = OrderedDict(block._forward_pre_hooks)
        if isinstance(dup, HybridBlock):
            dup._clear_cached_op()
            state["_flags"] = list(block._flags)
        for name, child in block._children.items():
            new_child = copy_block(child)
            state["_children"][name] = new_child
            for key, value in block.__dict__.items():  # attributes that hold the child
                if value is child:
                    state[key] = new_child
        result = visit(block, dup) if visit is not None else dup
        memo[id(block)] = result
        return result

    out = copy_block(net)
    if isinstance(out, HybridBlock) and getattr(net, "_active", False):
        out.hybridize(True, **dict(net._flags))  # new blocks inside join the cached graph
    return out
