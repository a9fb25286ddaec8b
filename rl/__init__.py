"""The DDQN Atari agent of the SAP paper's Appendix A and its SAP-under-FGSM evaluation (Table 1).

``rl.envs`` (Nature preprocessing), ``rl.qnet`` (Nature CNN), ``rl.replay`` (frames stored once),
``rl.ddqn`` (training), ``rl.evaluate`` (Table 1), ``rl.table`` (all games next to the paper).
"""
