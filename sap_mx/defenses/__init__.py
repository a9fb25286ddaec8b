"""Stochastic defenses as Gluon blocks, and ``defend`` to apply them post hoc.

=========  ===========================================  =================================
name       what                                          code
=========  ===========================================  =================================
sap        Stochastic Activation Pruning (Algorithm 1)   ``sap.SAP``, ``sap_mx/ops``
dropout    dropout left on at test time (4.1.2)          ``activation.DropoutAtTest``
rna, rsa   noisy / scaled activations (B.5, B.6)         ``activation.RNA``, ``RSA``
rnw, rsw   noisy / scaled weights (B.1, B.2)             ``weights.rnw``, ``rsw``
dwp, swp   deterministic / stochastic weight pruning     ``weights.dwp``, ``swp``
           (B.3, B.4)
=========  ===========================================  =================================
"""
from .activation import RNA, RSA, ActivationDefense, DropoutAtTest
from .registry import DEFENSES, Defense, DefendedActivation, defend, register, stochastic_per_pass
from .sap import SAP
from .weights import WeightTransform

__all__ = ["SAP", "DropoutAtTest", "RNA", "RSA", "ActivationDefense", "WeightTransform",
           "DEFENSES", "Defense", "DefendedActivation", "defend", "register",
           "stochastic_per_pass"]
