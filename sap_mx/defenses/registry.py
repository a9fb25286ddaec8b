"""Name -> defense registry and ``defend``, which applies a defense to any Gluon model post hoc.

Activation defenses go after every ReLU: each ``nn.Activation('relu')`` block (including the
``act`` child of ``Dense``/``Conv2D`` built with ``activation='relu'``) is replaced, in a copy of
the model, by a block computing defense(relu(x)). Weight defenses wrap the forward pass of every
Dense/Conv layer. ReLUs applied functionally (``F.relu`` inside someone's ``hybrid_forward``) are
invisible to this mechanism; ``defend`` refuses a model in which it finds no place to act.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from mxnet.gluon import Block, HybridBlock

from .._checks import draw_fraction, fraction_closed_open, fraction_open_closed, non_negative
from ..blocks import clone, is_relu, walk
from .activation import RNA, RSA, ActivationDefense, DropoutAtTest
from .sap import SAP
from .weights import WEIGHT_LAYERS, dwp, rnw, rsw, swp, with_weight_transform

__all__ = ["Defense", "DEFENSES", "register", "defend", "DefendedActivation",
           "stochastic_per_pass"]

REQUIRED = object()


@dataclass(frozen=True)
class Defense:
    """One entry of the registry.

    Attributes
    ----------
    name : str
        Registry key.
    kind : {'activation', 'weight'}
        Where it acts: after every ReLU, or on every Conv/Dense weight.
    make : callable
        ``make(**params)`` -> an ``ActivationDefense`` block (a fresh one per ReLU) or a
        ``WeightTransform``.
    params : dict
        Parameter name -> (check, default); ``check(name, value)`` returns the clean value or
        raises ValueError; default ``REQUIRED`` means the caller must give it.
    paper : str
        Where the paper defines it.
    """

    name: str
    kind: str
    make: Callable
    params: dict = field(default_factory=dict)
    paper: str = ""


DEFENSES: dict[str, Defense] = {}


def register(defense: Defense) -> Defense:
    if defense.kind not in ("activation", "weight"):
        raise ValueError(f"kind must be 'activation' or 'weight', got {defense.kind!r}")
    DEFENSES[defense.name] = defense
    return defense


def _bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


register(Defense("sap", "activation", SAP,
                 {"frac": (draw_fraction, 1.0), "independent": (_bool, False)},
                 "Algorithm 1, section 3"))
register(Defense("dropout", "activation", DropoutAtTest,
                 {"rate": (fraction_closed_open, REQUIRED)}, "section 4.1.2 (on at test time)"))
register(Defense("rna", "activation", RNA, {"sigma": (non_negative, REQUIRED)}, "Appendix B.5"))
register(Defense("rsa", "activation", RSA, {"sigma": (non_negative, REQUIRED)}, "Appendix B.6"))
register(Defense("rnw", "weight", rnw, {"sigma": (non_negative, REQUIRED)}, "Appendix B.1"))
register(Defense("rsw", "weight", rsw, {"sigma": (non_negative, REQUIRED)}, "Appendix B.2"))
register(Defense("dwp", "weight", dwp, {"keep": (fraction_open_closed, REQUIRED)}, "Appendix B.3"))
register(Defense("swp", "weight", swp, {"frac": (draw_fraction, REQUIRED)}, "Appendix B.4"))


class DefendedActivation(HybridBlock):
    """An activation followed by an activation defense: defense(act(x)). ``act`` is a ReLU block
    (then the defense may fuse with it) or, in a model defended twice, another
    DefendedActivation."""

    def __init__(self, act: Block, defense: ActivationDefense, **kwargs):
        super().__init__(**kwargs)
        self.act = act
        self.defense = defense

    def hybrid_forward(self, F, x):
        if is_relu(self.act):
            return self.defense.after_relu(F, x)
        return self.defense(self.act(x))

    def __repr__(self):
        return f"{self.act!r} -> {self.defense!r}"


def _resolve(name: str, params: dict) -> tuple[Defense, dict]:
    if not isinstance(name, str) or name not in DEFENSES:
        raise ValueError(f"unknown defense {name!r}; valid: {', '.join(sorted(DEFENSES))}")
    spec = DEFENSES[name]
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ValueError(f"defense {name!r} takes {', '.join(spec.params)}; "
                         f"got unknown {', '.join(unknown)}")
    clean = {}
    for key, (check, default) in spec.params.items():
        if key in params:
            clean[key] = check(key, params[key])
        elif default is REQUIRED:
            raise ValueError(f"defense {name!r} needs {key}=...")
        else:
            clean[key] = default
    return spec, clean


def defend(net: Block, name: str, **params) -> Block:
    """A copy of ``net`` with the defense ``name`` applied; ``net`` itself is left untouched.

    The copy shares ``net``'s parameters (same objects: training one trains both, and
    ``save_parameters`` writes the same names). If ``net`` is hybridized the copy is too.

    Parameters
    ----------
    net : mxnet.gluon.Block
        Any Gluon model whose ReLUs are ``nn.Activation('relu')`` blocks (activation defenses) or
        that has Dense/Conv layers (weight defenses).
    name : str
        A key of ``DEFENSES``: sap(frac=1.0, independent=False), dropout(rate), rna(sigma),
        rsa(sigma), rnw(sigma), rsw(sigma), dwp(keep), swp(frac).
    **params
        The defense's parameters; see ``DEFENSES[name].params``.

    Raises
    ------
    ValueError
        Unknown name or parameter, a value out of range, or a model with nothing to defend.
    """
    spec, clean = _resolve(name, params)
    if not isinstance(net, Block):
        raise ValueError(f"net must be a mxnet.gluon Block, got {type(net).__name__}")
    found = []

    if spec.kind == "activation":
        # in a model defended before, the unit ReLU -> defense is the activation to defend
        inner = {id(b.act) for b in walk(net) if isinstance(b, DefendedActivation)}

        def visit(original, dup):
            if isinstance(original, DefendedActivation) or (is_relu(original)
                                                            and id(original) not in inner):
                found.append(original)
                return DefendedActivation(dup, spec.make(**clean))
            return dup
    else:
        transform = spec.make(**clean)

        def visit(original, dup):
            if isinstance(original, WEIGHT_LAYERS):
                found.append(original)
                return with_weight_transform(dup, transform)
            return dup

    defended = clone(net, visit)
    if not found:
        where = ("nn.Activation('relu') blocks" if spec.kind == "activation"
                 else "Dense/Conv layers")
        raise ValueError(f"defense {name!r} found no {where} in {type(net).__name__}; "
                         "build the model with ReLUs as blocks (see sap_mx.models)")
    return defended


def stochastic_per_pass(net: Block) -> bool:
    """True if ``net`` draws randomness once per forward pass (weight defenses), so that Monte
    Carlo samples need separate passes instead of copies of the batch in one pass."""
    return any(getattr(getattr(b, "_weight_transform", None), "stochastic_per_pass", False)
               or getattr(b, "stochastic_per_pass", False) for b in walk(net))
