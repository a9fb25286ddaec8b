"""sap_mx: Stochastic Activation Pruning (Dhillon et al., ICLR 2018) in MXNet/Gluon.

Pins: mxnet 1.9.1 breaks on numpy >= 1.24, so numpy is pinned with it; every other direct
dependency is pinned to the version this project is tested with, so a fresh install resolves
the same way. The CPU wheel of mxnet is the default; the ``gpu`` extra (install with
``SAP_MX_GPU=1``, see the README) swaps in mxnet-cu112 and the CUDA 11 runtime it needs.
"""
import os

from setuptools import find_packages, setup

MXNET = "mxnet-cu112==1.9.1" if os.environ.get("SAP_MX_GPU") == "1" else "mxnet==1.9.1"

CUDA11_RUNTIME = [  # the mxnet-cu112 wheel links these CUDA 11 libraries but bundles none of them
    "nvidia-cuda-runtime-cu11==11.8.89",   # libcudart.so.11.0
    "nvidia-cublas-cu11==11.11.3.6",       # libcublas.so.11
    "nvidia-cudnn-cu11==8.9.6.50",         # libcudnn.so.8
    "nvidia-nccl-cu11==2.21.5",            # libnccl.so.2
    "nvidia-cufft-cu11==10.9.0.58",        # libcufft.so.10
    "nvidia-curand-cu11==10.3.0.86",       # libcurand.so.10
    "nvidia-cusolver-cu11==11.4.1.48",     # libcusolver.so.11
    "nvidia-cuda-nvrtc-cu11==11.8.89",     # libnvrtc.so.11.2
    "nvidia-nvtx-cu11==11.8.86",           # libnvToolsExt.so.1
]

setup(
    name="sap_mx",
    version="0.1.0",
    description="Stochastic Activation Pruning and stochastic defenses in MXNet/Gluon",
    python_requires=">=3.11,<3.12",
    # sap_mx: the library; runkit: the run layer every driver shares; experiments and rl: the
    # drivers (installed too, so benchmarks and scripts import them without path tricks)
    packages=find_packages(include=["sap_mx", "sap_mx.*", "runkit", "runkit.*", "experiments",
                                    "experiments.*", "rl", "rl.*"]),
    package_data={"sap_mx.ops": ["sap_ops.cc"]},
    install_requires=[
        MXNET,
        "numpy==1.23.5",
        "gluoncv==0.10.5.post0",
        "pandas==2.3.3",
        "matplotlib==3.10.9",
        "tqdm==4.70.1",
        "scipy==1.15.3",
    ],
    extras_require={
        "gpu": ["mxnet-cu112==1.9.1", *CUDA11_RUNTIME],
        "atari": ["gymnasium[atari]==1.4.0", "ale-py==0.12.1"],
        "dev": ["pytest==9.2.0", "ruff==0.17.6"],
    },
)
