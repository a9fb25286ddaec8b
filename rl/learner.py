"""The DDQN learner of the SAP paper's Atari agent (section 4.2, Appendix A): online and target
Nature CNNs, the Double DQN target, the Huber loss and DeepMind's RMSProp.

Two implementations of the same update, by name in ``LEARNERS`` (``make_learner``):

* ``fused`` (``FusedLearner``, the default): the whole update is one cached graph (both forward
  passes on s', the Double DQN target, the forward pass on s and the Huber loss), fed the replay's
  uint8 frames without a copy to float on the host, the first convolution computed in a
  space-to-depth layout (the same sums; its weight gradient ~3x faster in oneDNN), and no host
  synchronisation: ``update`` returns as soon as the work is queued.
* ``reference`` (``Learner``): three separately hybridized networks and imperative glue, kept as
  the reference that ``tests/test_rl_learner.py`` compares the fused update with (the same
  parameters after several updates from the same state and batches, to float rounding) and that
  ``make bench`` times beside it.

Both keep the same parameters, optimizer and checkpoint files, so either resumes the other's
checkpoint. ``rl.ddqn`` runs one (act, store, learn, sync, checkpoint).
"""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from runkit import UsageError

from .qnet import NatureQNet, layer_params, nature_qnet, q_graph, space_to_depth

__all__ = ["GAMMA", "LR", "LEARNERS", "DEFAULT_LEARNER", "Learner", "FusedLearner", "DDQNLoss",
           "GreedyAction", "ddqn_targets", "deepmind_rmsprop", "make_learner"]

# the DeepMind hyper-parameters of Appendix A (and Mnih et al. 2015) that the learner uses
GAMMA = 0.99
LR = 2.5e-4


def ddqn_targets(q_next_online, q_next_target, rewards, done, gamma: float = GAMMA, F=mx.nd):
    """Double DQN: r + gamma * (1 - done) * Q_target(s', argmax_a Q_online(s', a)) (``F``:
    ``mx.nd``, or ``mx.sym`` inside a graph)."""
    best = F.argmax(q_next_online, axis=1)
    return rewards + gamma * (1.0 - done) * F.pick(q_next_target, best, axis=1)


def deepmind_rmsprop():
    """RMSProp as in the DQN code: centered, decay 0.95 for both moments, epsilon 0.01 inside
    the square root, no momentum; applied to the batch's *summed* loss."""
    return mx.optimizer.RMSProp(learning_rate=LR, gamma1=0.95, gamma2=0.0, epsilon=0.01,
                                centered=True)


class Learner:
    """Online and target Nature CNNs, their optimizer, and one DDQN update (the reference
    implementation; ``FusedLearner`` computes the same update faster).

    The networks are hybridized with ``static_alloc`` and ``static_shape`` (``graph='static'``,
    measured fastest on CPU by ``make bench``; 'plain' hybridizes without them, 'none' runs
    imperatively); acting uses a third, parameter-sharing copy so that batch-1 calls do not
    change the shapes the training graph was built for.
    """

    GRAPHS = {"static": {"static_alloc": True, "static_shape": True}, "plain": {}, "none": None}

    def __init__(self, actions: int, seed: int, ctx=None, graph: str = "static"):
        if graph not in self.GRAPHS:
            raise ValueError(f"graph must be one of {', '.join(self.GRAPHS)}, got {graph!r}")
        self.ctx = ctx or mx.cpu()
        self.online = nature_qnet(actions, ctx=self.ctx, seed=seed)
        self.target = nature_qnet(actions, ctx=self.ctx)
        self.actor = NatureQNet(actions, prefix=self.online.prefix,
                                params=self.online.collect_params())
        if self.GRAPHS[graph] is not None:
            for net in (self.online, self.target, self.actor):
                net.hybridize(**self.GRAPHS[graph])
        self.sync_target()
        self.trainer = gluon.Trainer(self.online.collect_params(), deepmind_rmsprop())
        self.loss = gluon.loss.HuberLoss(rho=1.0)

    def sync_target(self) -> None:
        for src, dst in zip(self.online.collect_params().values(),
                            self.target.collect_params().values(), strict=True):
            dst.set_data(src.data())

    def act(self, obs: np.ndarray) -> int:
        """Greedy action for one (4, 84, 84) observation."""
        x = mx.nd.array(obs[None], ctx=self.ctx, dtype="float32")
        return int(self.actor(x).argmax(axis=1).asscalar())

    def update(self, states, actions, rewards, next_states, done) -> float:
        """One RMSProp step on the summed Huber loss of a replay batch; returns the mean loss."""
        def f(a):
            return mx.nd.array(a, ctx=self.ctx, dtype="float32")

        s, s2 = f(states), f(next_states)
        y = ddqn_targets(self.online(s2), self.target(s2), f(rewards), f(done))
        with autograd.record():
            q = mx.nd.pick(self.online(s), f(actions), axis=1)
            loss = self.loss(q, y)
        loss.backward()
        self.trainer.step(1)
        return float(loss.mean().asscalar())

    # -- state --------------------------------------------------------------------------------
    def writers(self) -> dict:
        return {"online.params": self.online.save_parameters,
                "target.params": self.target.save_parameters,
                "trainer.states": self.trainer.save_states}

    def load(self, files: dict) -> None:
        self.online.load_parameters(files["online.params"], ctx=self.ctx)
        self.target.load_parameters(files["target.params"], ctx=self.ctx)
        self.trainer.load_states(files["trainer.states"])


# ---------------------------------------------------------------------------------------------
# the fused learner: one graph per update
# ---------------------------------------------------------------------------------------------
class DDQNLoss(nn.HybridBlock):
    """The Double DQN loss of one replay batch as one graph, from uint8 frames.

    Inputs: states in ``space_to_depth`` layout (B, 64, 21, 21) and next states (B, 4, 84, 84),
    both uint8 (cast to float inside the graph), actions, rewards and done as float32. Output:
    the Huber loss of each transition, the same as ``Learner.update``'s.

    The target y = ``ddqn_targets`` of Q_online(s') and Q_target(s') carries no gradient, and the
    online parameters enter the s' pass through ``BlockGrad``, so that pass has no backward at
    all (a ``BlockGrad`` on its output alone leaves MXNet computing it, with zeros). The target
    network's parameters have ``grad_req='null'``.
    """

    def __init__(self, online: NatureQNet, target: NatureQNet, gamma: float = GAMMA):
        super().__init__(prefix="ddqn_loss_")
        self.actions, self.gamma = online.actions, gamma
        self.huber = gluon.loss.HuberLoss(rho=1.0)
        for role, net in (("online", online), ("target", target)):
            self.params.update(net.collect_params())  # the graph's inputs: these very parameters
            for name, param in layer_params(net).items():
                setattr(self, f"{role}_{name}", param)  # passed to hybrid_forward by this name

    def hybrid_forward(self, F, states, actions, rewards, next_states, done, **p):
        online = {k[len("online_"):]: v for k, v in p.items() if k.startswith("online_")}
        target = {k[len("target_"):]: v for k, v in p.items() if k.startswith("target_")}
        # ALGO LOGIC: the Double DQN target, r + gamma (1 - done) Q_target(s', argmax Q_online(s'))
        frozen = {k: F.BlockGrad(v) for k, v in online.items()}
        s2 = F.cast(next_states, "float32")
        y = F.BlockGrad(ddqn_targets(q_graph(F, s2, frozen, self.actions),
                                     q_graph(F, s2, target, self.actions), rewards, done,
                                     self.gamma, F=F))
        # ALGO LOGIC: the Huber loss of Q_online(s, a) against it (the trained pass)
        q = q_graph(F, F.cast(states, "float32"), online, self.actions, space_to_depth=True)
        return self.huber(F.pick(q, actions, axis=1), y)


class GreedyAction(nn.HybridBlock):
    """argmax_a Q(obs, a) of a batch of uint8 observations, as one graph sharing ``net``'s
    parameters."""

    def __init__(self, net: NatureQNet):
        super().__init__(prefix="greedy_")
        self.actions = net.actions
        self.params.update(net.collect_params())
        for name, param in layer_params(net).items():
            setattr(self, name, param)

    def hybrid_forward(self, F, obs, **p):
        return F.argmax(q_graph(F, F.cast(obs, "float32"), p, self.actions), axis=1)


class FusedLearner(Learner):
    """The same networks, optimizer, update and checkpoint files as ``Learner``, computed as one
    cached graph per update (``DDQNLoss``) and one per action (``GreedyAction``).

    ``update`` queues the work and returns the per-transition losses as an NDArray without
    waiting for them (reading it waits for the update); the next ``act`` waits for the
    optimizer, as it must. The batch's arrays are copied once and handed to MXNet without
    another copy (``mx.nd.from_numpy``), so the caller may reuse its own.
    """

    def __init__(self, actions: int, seed: int, ctx=None):
        self.ctx = ctx or mx.cpu()
        self.online = nature_qnet(actions, ctx=self.ctx, seed=seed)
        self.target = nature_qnet(actions, ctx=self.ctx)
        self.target.collect_params().setattr("grad_req", "null")  # never trained
        self.sync_target()
        self.loss = DDQNLoss(self.online, self.target)
        self.greedy = GreedyAction(self.online)
        for graph in (self.loss, self.greedy):
            graph.hybridize(static_alloc=True, static_shape=True)
        self.trainer = gluon.Trainer(self.online.collect_params(), deepmind_rmsprop())

    def _nd(self, a, dtype) -> mx.nd.NDArray:
        own = np.array(a, dtype=dtype, order="C")  # a fresh array MXNet may keep
        if self.ctx.device_type == "cpu":
            return mx.nd.from_numpy(own, zero_copy=True)
        return mx.nd.array(own, ctx=self.ctx, dtype=dtype)

    def act(self, obs: np.ndarray) -> int:
        """Greedy action for one (4, 84, 84) uint8 observation."""
        return int(self.greedy(self._nd(obs[None], np.uint8)).asscalar())

    def update(self, states, actions, rewards, next_states, done) -> mx.nd.NDArray:
        """One RMSProp step on the summed Huber loss of a replay batch (uint8 states); returns
        the per-transition losses, not waited for."""
        batch = (self._nd(space_to_depth(states), np.uint8), self._nd(actions, np.float32),
                 self._nd(rewards, np.float32), self._nd(next_states, np.uint8),
                 self._nd(done, np.float32))
        with autograd.record():
            loss = self.loss(*batch)
        loss.backward()
        self.trainer.step(1)
        return loss


LEARNERS = {"fused": FusedLearner, "reference": Learner}  #: name -> implementation
DEFAULT_LEARNER = "fused"


def make_learner(name: str, actions: int, seed: int, ctx=None) -> Learner:
    """The learner called ``name`` in ``LEARNERS``; an unknown name is a one-line error."""
    if name not in LEARNERS:
        raise UsageError(f"unknown learner {name!r}; valid: {', '.join(LEARNERS)}")
    return LEARNERS[name](actions, seed=seed, ctx=ctx)
