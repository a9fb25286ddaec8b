"""The DDQN learner of the SAP paper's Atari agent (section 4.2, Appendix A): online and target
Nature CNNs, the Double DQN target, the Huber loss and DeepMind's RMSProp.

``rl.ddqn`` runs it (act, store, learn, sync, checkpoint); ``benchmarks/bench_atari.py`` times it.
"""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from .qnet import NatureQNet, nature_qnet

__all__ = ["GAMMA", "LR", "Learner", "ddqn_targets", "deepmind_rmsprop"]

# the DeepMind hyper-parameters of Appendix A (and Mnih et al. 2015) that the learner uses
GAMMA = 0.99
LR = 2.5e-4


def ddqn_targets(q_next_online, q_next_target, rewards, done, gamma: float = GAMMA):
    """Double DQN: r + gamma * (1 - done) * Q_target(s', argmax_a Q_online(s', a))."""
    best = mx.nd.argmax(q_next_online, axis=1)
    return rewards + gamma * (1.0 - done) * mx.nd.pick(q_next_target, best, axis=1)


def deepmind_rmsprop():
    """RMSProp as in the DQN code: centered, decay 0.95 for both moments, epsilon 0.01 inside
    the square root, no momentum; applied to the batch's *summed* loss."""
    return mx.optimizer.RMSProp(learning_rate=LR, gamma1=0.95, gamma2=0.0, epsilon=0.01,
                                centered=True)


class Learner:
    """Online and target Nature CNNs, their optimizer, and one DDQN update.

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
        f = lambda a: mx.nd.array(a, ctx=self.ctx, dtype="float32")  # noqa: E731
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
