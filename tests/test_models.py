"""The authors' ResNet-20 and the model registry."""
import mxnet as mx
import numpy as np

import sap_mx
from sap_mx.blocks import is_relu, walk
from sap_mx.models import get_model, initialize, resnet20
from sap_mx.models.cifar_resnet import IMAGENET_MEAN_RGB, PreActUnit


def test_structure():
    net = resnet20()
    blocks = list(walk(net))
    assert sum(is_relu(b) for b in blocks) == 19
    units = [b for b in blocks if isinstance(b, PreActUnit)]
    assert len(units) == 9
    # projection shortcuts exactly where the shape changes (first unit of stages 2 and 3)
    assert [u.proj is not None for u in units] == [False] * 3 + [True, False, False] * 2
    assert [u.conv1._channels for u in units] == [16] * 3 + [32] * 3 + [64] * 3
    initialize(net, seed=0)
    trainable = sum(p.data().size for p in net.collect_params().values() if p.grad_req != "null")
    assert 270_000 < trainable < 275_000  # ResNet-20's ~0.27M parameters
    out = net(mx.nd.random.uniform(0, 255, (2, 3, 32, 32)))
    assert out.shape == (2, 10)


def test_mean_subtracted_inside_and_saved():
    net = resnet20()
    initialize(net, seed=0)
    mean = net.features[0].mean.data().asnumpy().ravel()
    np.testing.assert_allclose(mean, IMAGENET_MEAN_RGB, rtol=1e-6)
    assert any(k.endswith("mean") and "subtractmean" in k for k in net.collect_params().keys())


def test_registry_and_seeded_initialisation():
    a, b = get_model("resnet20"), get_model("resnet20")
    initialize(a, seed=3)
    initialize(b, seed=3)
    x = mx.nd.random.uniform(0, 255, (2, 3, 32, 32))
    np.testing.assert_array_equal(a(x).asnumpy(), b(x).asnumpy())


def test_sap_on_hybridized_resnet20_is_stochastic_in_predict_mode():
    net = resnet20()
    initialize(net, seed=0)
    net.hybridize(static_alloc=True)
    defended = sap_mx.defend(net, "sap")
    x = mx.nd.random.uniform(0, 255, (2, 3, 32, 32))
    with mx.autograd.predict_mode():
        assert not np.array_equal(defended(x).asnumpy(), defended(x).asnumpy())
        dense = net(x).asnumpy()
        np.testing.assert_array_equal(net(x).asnumpy(), dense)
