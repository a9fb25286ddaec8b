"""GluonCV's CIFAR ResNet-20 v1 and v2, re-expressed with every ReLU as a block.

The computation and the parameter layout are GluonCV's (``gluoncv/model_zoo/cifarresnet.py``),
so GluonCV's published weights load with ``load_parameters`` and SAP can be applied post hoc to a
model nobody here trained. Two differences, both outside the parameters:

* the ReLUs GluonCV applies functionally (``F.Activation`` inside ``hybrid_forward``) are
  ``nn.Activation('relu')`` blocks here, so ``sap_mx.defend`` reaches them;
* the input is 0..255 pixels, as for every model of this project: GluonCV's preprocessing
  (x / 255, then per-channel mean/std) happens inside ``hybrid_forward``, so attacks and their
  epsilons work in pixel units.

v1 (post-activation) has 18 ReLUs (two per block; GluonCV puts none after the stem); v2
(pre-activation) has 19.
"""
from __future__ import annotations

import os
import tempfile

from mxnet.gluon import HybridBlock, nn

from ..errors import UserError

__all__ = ["WeightsUnavailable", "GLUONCV_MEAN", "GLUONCV_STD", "CIFARResNetV1", "CIFARResNetV2",
           "cifar_resnet20_v1", "cifar_resnet20_v2", "load_gluoncv_weights"]

# GluonCV's CIFAR-10 transform: ToTensor (x / 255), then Normalize(mean, std)
GLUONCV_MEAN = (0.4914, 0.4822, 0.4465)
GLUONCV_STD = (0.2023, 0.1994, 0.2010)


class WeightsUnavailable(UserError):
    """Published weights could not be obtained (offline, missing file...)."""


# ---------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------
def _conv3x3(channels, stride, in_channels):
    return nn.Conv2D(channels, 3, stride, 1, use_bias=False, in_channels=in_channels)


class BasicBlockV1(HybridBlock):
    """GluonCV's CIFARBasicBlockV1 with its final ReLU as the block ``relu``."""

    def __init__(self, channels, stride, downsample=False, in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self.body = nn.HybridSequential(prefix="")
        self.body.add(_conv3x3(channels, stride, in_channels), nn.BatchNorm(),
                      nn.Activation("relu"), _conv3x3(channels, 1, channels), nn.BatchNorm())
        if downsample:
            self.downsample = nn.HybridSequential(prefix="")
            self.downsample.add(nn.Conv2D(channels, 1, stride, use_bias=False,
                                          in_channels=in_channels), nn.BatchNorm())
        else:
            self.downsample = None
        self.relu = nn.Activation("relu")

    def hybrid_forward(self, F, x):
        residual = self.downsample(x) if self.downsample else x
        return self.relu(residual + self.body(x))


class BasicBlockV2(HybridBlock):
    """GluonCV's CIFARBasicBlockV2 with its two ReLUs as blocks ``relu1``/``relu2``."""

    def __init__(self, channels, stride, downsample=False, in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self.bn1 = nn.BatchNorm()
        self.relu1 = nn.Activation("relu")
        self.conv1 = _conv3x3(channels, stride, in_channels)
        self.bn2 = nn.BatchNorm()
        self.relu2 = nn.Activation("relu")
        self.conv2 = _conv3x3(channels, 1, channels)
        self.downsample = (nn.Conv2D(channels, 1, stride, use_bias=False, in_channels=in_channels)
                           if downsample else None)

    def hybrid_forward(self, F, x):
        residual = self.downsample(x) if self.downsample else x
        x = self.conv1(self.relu1(self.bn1(x)))
        x = self.conv2(self.relu2(self.bn2(x)))
        return x + residual


# ---------------------------------------------------------------------------------------------
# nets
# ---------------------------------------------------------------------------------------------
class _PixelInput(HybridBlock):
    """Shared: 0..255 pixels -> GluonCV's normalised input, then features and output."""

    def _normalise(self, F, x):
        chans = F.split(x, num_outputs=3, axis=1)
        return F.concat(*[(chans[c] * (1.0 / 255) - GLUONCV_MEAN[c]) * (1.0 / GLUONCV_STD[c])
                          for c in range(3)], dim=1)

    def hybrid_forward(self, F, x):
        return self.output(self.features(self._normalise(F, x)))

    @staticmethod
    def _stages(block, layers, channels):
        stages, in_channels = [], channels[0]
        for i, num in enumerate(layers):
            stride = 1 if i == 0 else 2
            stage = nn.HybridSequential(prefix=f"stage{i + 1}_")
            with stage.name_scope():
                stage.add(block(channels[i + 1], stride, channels[i + 1] != in_channels,
                                in_channels=in_channels, prefix=""))
                for _ in range(num - 1):
                    stage.add(block(channels[i + 1], 1, False, in_channels=channels[i + 1],
                                    prefix=""))
            stages.append(stage)
            in_channels = channels[i + 1]
        return stages


class CIFARResNetV1(_PixelInput):
    def __init__(self, layers=(3, 3, 3), channels=(16, 16, 32, 64), classes=10, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False), nn.BatchNorm())
            for stage in self._stages(BasicBlockV1, layers, channels):
                self.features.add(stage)
            self.features.add(nn.GlobalAvgPool2D())
            self.output = nn.Dense(classes, in_units=channels[-1])


class CIFARResNetV2(_PixelInput):
    def __init__(self, layers=(3, 3, 3), channels=(16, 16, 32, 64), classes=10, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.BatchNorm(scale=False, center=False),
                              nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))
            for stage in self._stages(BasicBlockV2, layers, channels):
                self.features.add(stage)
            self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.GlobalAvgPool2D(),
                              nn.Flatten())
            self.output = nn.Dense(classes, in_units=channels[-1])


# ---------------------------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------------------------
def cifar_resnet20_v1(classes: int = 10, **kwargs) -> CIFARResNetV1:
    """GluonCV's cifar_resnet20_v1 layout, ReLUs as blocks, 0..255 pixel input."""
    return CIFARResNetV1(classes=classes, **kwargs)


def cifar_resnet20_v2(classes: int = 10, **kwargs) -> CIFARResNetV2:
    """GluonCV's cifar_resnet20_v2 layout, ReLUs as blocks, 0..255 pixel input."""
    return CIFARResNetV2(classes=classes, **kwargs)


def load_gluoncv_weights(net, name: str, ctx=None):
    """Load GluonCV's published ``name`` weights (downloaded by GluonCV into ~/.mxnet/models on a
    networked machine) into ``net``. Raises WeightsUnavailable when they cannot be had."""
    from gluoncv.model_zoo import get_model

    try:
        source = get_model(name, pretrained=True)
    except Exception as err:  # noqa: BLE001 - offline, proxy, missing file...
        raise WeightsUnavailable(f"cannot get GluonCV's pretrained {name} ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''}); it needs network "
                           "access once, then lives in ~/.mxnet/models") from None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gluoncv.params")
        source.save_parameters(path)
        net.load_parameters(path, ctx=ctx)
    return net
