"""Bad input: a one-line ValueError that names the argument and the valid choice."""
import mxnet as mx
import pytest

import sap_mx
from sap_mx import ops
from sap_mx.attacks import bim, fgsm, input_gradient, random_noise


def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_unknown_defense_lists_valid_names(cnn):
    with pytest.raises(ValueError) as err:
        sap_mx.defend(cnn, "sapp")
    msg = one_line(err)
    assert "sapp" in msg
    for name in ("dropout", "dwp", "rna", "rnw", "rsa", "rsw", "sap", "swp"):
        assert name in msg


@pytest.mark.parametrize("name, params, match", [
    ("sap", {"frac": 0}, "frac must be > 0"),
    ("sap", {"frac": -0.5}, "frac must be > 0"),
    ("swp", {"frac": 0}, "frac must be > 0"),
    ("rna", {"sigma": -0.1}, "sigma must be >= 0"),
    ("rsa", {"sigma": -1}, "sigma must be >= 0"),
    ("rnw", {"sigma": -1e-3}, "sigma must be >= 0"),
    ("rsw", {"sigma": -2}, "sigma must be >= 0"),
    ("dwp", {"keep": 0}, r"keep must be in \(0, 1\]"),
    ("dwp", {"keep": 1.5}, r"keep must be in \(0, 1\]"),
    ("dwp", {"keep": -0.2}, r"keep must be in \(0, 1\]"),
    ("dropout", {"rate": 1.0}, r"rate must be in \[0, 1\)"),
    ("dropout", {"rate": -0.1}, r"rate must be in \[0, 1\)"),
    ("rna", {"sigma": "big"}, "sigma must be a number"),
    ("sap", {"frac": 1.0, "fraction": 2}, "takes frac, independent; got unknown fraction"),
    ("rna", {}, "needs sigma="),
])
def test_bad_defense_parameters(cnn, name, params, match):
    with pytest.raises(ValueError, match=match) as err:
        sap_mx.defend(cnn, name, **params)
    one_line(err)


@pytest.mark.parametrize("mc", [0, -3, 1.5, True])
def test_mc_samples_below_one(cnn, images, mc):
    x, y = images
    for call in (lambda: fgsm(cnn, x, y, 2.0, mc_samples=mc),
                 lambda: bim(cnn, x, y, 2.0, mc_samples=mc),
                 lambda: input_gradient(cnn, x, y, mc_samples=mc),
                 lambda: sap_mx.predict_proba(cnn, x, mc_samples=mc)):
        with pytest.raises(ValueError, match="mc_samples must be an integer >= 1") as err:
            call()
        one_line(err)


def test_attack_argument_checks(cnn, images):
    x, y = images
    with pytest.raises(ValueError, match="eps must be >= 0"):
        fgsm(cnn, x, y, -1.0)
    with pytest.raises(ValueError, match="clip must have low < high"):
        fgsm(cnn, x, y, 1.0, clip=(255, 0))
    with pytest.raises(ValueError, match="step must be > 0"):
        bim(cnn, x, y, 2.0, step=0)
    with pytest.raises(ValueError, match="y must have shape"):
        input_gradient(cnn, x, y[:3])
    with pytest.raises(ValueError, match="unknown loss 'hinge'; valid: ce"):
        input_gradient(cnn, x, y, loss="hinge")
    with pytest.raises(ValueError, match="eps must be >= 0"):
        random_noise(x, -2)


def test_unknown_backend_and_model():
    with pytest.raises(ValueError, match="unknown SAP backend 'gpu'; valid: auto, native, python"):
        ops.set_backend("gpu")
    from sap_mx.models import MODELS

    assert {"resnet20", "cifar_resnet20_v1", "mlp_sdr_learnable"} <= set(MODELS)
    valid = ", ".join(sorted(MODELS)) + "$"
    with pytest.raises(ValueError, match=f"unknown model 'resnet21'; valid: {valid}"):
        sap_mx.models.get_model("resnet21")


def test_defend_needs_a_block():
    with pytest.raises(ValueError, match="net must be a mxnet.gluon Block"):
        sap_mx.defend(mx.nd.ones(3), "sap")
