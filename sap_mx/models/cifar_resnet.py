"""The authors' pre-activation ResNet-20 for CIFAR-10, with every ReLU a block.

Reproduces the network of the authors' MXNet code (their ``symbol_resnet`` for CIFAR-10, the
ResNet-20 of the paper's section 4.1): a per-channel mean (the ImageNet RGB mean, as they used)
subtracted from 0..255 pixels, an input BatchNorm with fixed gamma, conv3x3(16),
three stages of three pre-activation units (16/32/64 filters; each unit BN-ReLU-conv-BN-ReLU-conv,
with a 1x1 projection shortcut taken from the first activation where the shape changes), then
BN-ReLU, global average pooling and a 10-way dense layer. 19 ReLUs, each an
``nn.Activation('relu')`` block, so ``sap_mx.defend(net, 'sap')`` reaches every one of them.
Input: (B, C, H, W) float32 pixels on the 0..255 scale (CIFAR-10: C = 3, 32x32; the
constructor takes ``in_channels`` and the per-channel ``mean`` for other datasets, e.g. one
channel at 28x28); output: logits.
"""
from __future__ import annotations

from mxnet import init
from mxnet.gluon import HybridBlock, nn

__all__ = ["IMAGENET_MEAN_RGB", "PreActUnit", "CIFARResNetPreAct", "resnet20"]

# ---------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)  # subtracted from 0..255 pixels
BN_EPS = 2e-5  # the authors' MXNet default
BN_MOMENTUM = 0.9


class SubtractMean(HybridBlock):
    """x - mean per channel, the mean a constant saved with the parameters."""

    def __init__(self, mean=IMAGENET_MEAN_RGB, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.mean = self.params.get_constant("mean", [[[m]] for m in mean])

    def hybrid_forward(self, F, x, mean):
        return F.broadcast_sub(x, F.expand_dims(mean, axis=0))


class PreActUnit(HybridBlock):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus shortcut; the projection (1x1 conv) is applied to the
    first activation when the unit changes the shape."""

    def __init__(self, channels: int, stride: int, in_channels: int, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.bn1 = nn.BatchNorm(epsilon=BN_EPS, momentum=BN_MOMENTUM, in_channels=in_channels)
            self.relu1 = nn.Activation("relu")
            self.conv1 = nn.Conv2D(channels, 3, stride, 1, use_bias=False, in_channels=in_channels)
            self.bn2 = nn.BatchNorm(epsilon=BN_EPS, momentum=BN_MOMENTUM, in_channels=channels)
            self.relu2 = nn.Activation("relu")
            self.conv2 = nn.Conv2D(channels, 3, 1, 1, use_bias=False, in_channels=channels)
            self.proj = None
            if stride != 1 or in_channels != channels:
                self.proj = nn.Conv2D(channels, 1, stride, use_bias=False, in_channels=in_channels)

    def hybrid_forward(self, F, x):
        act = self.relu1(self.bn1(x))
        shortcut = x if self.proj is None else self.proj(act)
        out = self.conv2(self.relu2(self.bn2(self.conv1(act))))
        return out + shortcut


# ---------------------------------------------------------------------------------------------
# nets
# ---------------------------------------------------------------------------------------------
class CIFARResNetPreAct(HybridBlock):
    """Pre-activation CIFAR ResNet with ``units`` units per stage (depth = 6 * units + 2)."""

    def __init__(self, units: int = 3, filters=(16, 16, 32, 64), classes: int = 10, *,
                 in_channels: int = 3, mean=IMAGENET_MEAN_RGB, **kwargs):
        super().__init__(**kwargs)
        mean = tuple(float(m) for m in mean)
        if len(mean) != in_channels:
            raise ValueError(f"mean has {len(mean)} values for {in_channels} input channels; "
                             "give one per channel")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(SubtractMean(mean),
                              nn.BatchNorm(epsilon=BN_EPS, momentum=BN_MOMENTUM, scale=False,
                                           in_channels=in_channels),
                              nn.Conv2D(filters[0], 3, 1, 1, use_bias=False,
                                        in_channels=in_channels))
            in_channels = filters[0]  # from here: the stages' channels
            for stage, channels in enumerate(filters[1:]):
                for unit in range(units):
                    stride = 2 if stage > 0 and unit == 0 else 1
                    self.features.add(PreActUnit(channels, stride, in_channels))
                    in_channels = channels
            self.features.add(nn.BatchNorm(epsilon=BN_EPS, momentum=BN_MOMENTUM,
                                           in_channels=in_channels),
                              nn.Activation("relu"),
                              nn.GlobalAvgPool2D(),
                              nn.Flatten())
            self.output = nn.Dense(classes, in_units=in_channels)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# ---------------------------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------------------------
def resnet20(classes: int = 10, *, in_channels: int = 3, mean=IMAGENET_MEAN_RGB,
             **kwargs) -> CIFARResNetPreAct:
    """The authors' ResNet-20 (3 units per stage), uninitialised.

    ``in_channels`` and ``mean`` (one value per channel, 0..255 scale) default to CIFAR-10's
    RGB input with the ImageNet mean the authors subtracted.

    Initialise it as they did with
    ``net.initialize(mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2))``
    (``sap_mx.models.initialize`` does this).
    """
    return CIFARResNetPreAct(units=3, classes=classes, in_channels=in_channels, mean=mean,
                             **kwargs)


def authors_initializer() -> init.Initializer:
    """Xavier(gaussian, in, magnitude 2), the authors' initialisation."""
    return init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2)
