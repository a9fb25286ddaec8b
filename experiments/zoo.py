"""The trained models of the experiments, in one place: how they are built, named, found,
loaded and labelled.

* image models (ResNet-20 on a dataset of ``experiments.datasets``): ``train_run_name``,
  ``build_image_model``, ``TrainedModels`` (weights by name, each loaded once, and their defended
  versions);
* Khan et al.'s MLPs: ``build_mlp``, ``mlp_run_dir``, ``mlp_checkpoint_id``, ``load_mlp``;
* ``model_key`` (the stable identifier that seeds and result rows use; never change it) and
  ``model_label`` (the one display name, as the paper writes it: dense, SAP-100, ADV+SAP-100).
"""
from __future__ import annotations

from pathlib import Path

import sap_mx
from runkit import UsageError, manifest, rel
from sap_mx import checkpoint
from sap_mx.io import sha256_file
from sap_mx.models import get_model, load_gluoncv_weights
from sap_mx.sdr import STOCHASTIC_MLPS, build_mlp

from .datasets import ImageDataset

__all__ = ["IMAGE_MODELS", "DEFENSE_ARGS", "DETERMINISTIC", "fmt_param", "model_key",
           "model_label", "train_run_name", "build_image_model", "TrainedModels", "MLP_MODELS",
           "STOCHASTIC_MLPS", "build_mlp", "mlp_run_dir",
           "mlp_checkpoint_id", "load_mlp"]

IMAGE_MODELS = ("resnet20", "cifar_resnet20_v1", "cifar_resnet20_v2")
# the paper's legend value -> defend() keyword arguments
DEFENSE_ARGS = {
    "sap": lambda k: {"frac": k / 100}, "swp": lambda k: {"frac": k / 100},
    "dwp": lambda k: {"keep": k / 100}, "dropout": lambda rate: {"rate": rate},
    "rnw": lambda s: {"sigma": s}, "rsw": lambda s: {"sigma": s},
    "rna": lambda s: {"sigma": s}, "rsa": lambda s: {"sigma": s},
}
DETERMINISTIC = {"none", "dwp"}  # defenses whose model answers the same every pass


# ---------------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------------
def fmt_param(value) -> str:
    """A defense parameter as rows write it ('' for none, else ``%g``)."""
    return "" if value is None or value == "" else f"{float(value):g}"


def model_key(model: str, defense: str = "none", param=None) -> str:
    """The stable identifier of a (base weights, defense, parameter) model: ``dense``,
    ``dense+sap-100``. Seeds are derived from it: changing it changes numbers."""
    return model if defense == "none" else f"{model}+{defense}-{fmt_param(param)}"


_BASES = {"dense": "dense", "adv": "ADV"}
_DEFENSES = {"sap": "SAP", "dropout": "dropout", "rnw": "RNW", "rsw": "RSW", "dwp": "DWP",
             "swp": "SWP", "rna": "RNA", "rsa": "RSA"}


def model_label(model: str, defense: str = "none", param=None) -> str:
    """The display name, as the paper writes it: ``dense``, ``SAP-100`` (SAP on the dense
    model), ``ADV``, ``ADV+SAP-100``, ``dropout-0.3``, ``dropout0.3+dropout-0.3``."""
    base = _BASES.get(model, model)
    if defense == "none":
        return base
    defended = f"{_DEFENSES.get(defense, defense.upper())}"
    if fmt_param(param):
        defended += f"-{fmt_param(param)}"
    return defended if model == "dense" else f"{base}+{defended}"


# ---------------------------------------------------------------------------------------------
# image models
# ---------------------------------------------------------------------------------------------
def train_run_name(dataset: ImageDataset, *, recipe: str, rate: float, model: str,
                   profile: str, seed: int, crop: int = 0) -> str:
    """The folder name of a training run: ``dense-paper-seed0``, ``dropout-p0.3-quick-seed1``,
    ``adv-cifar_resnet20_v2-smoke-seed0``, ``dense-crop28-paper-seed0`` (after the dataset's
    ``run_prefix``; the crop only when it is not the image size)."""
    rate_part = f"-p{rate:g}" if dataset.recipes[recipe].dropout else ""
    model_part = "" if model == "resnet20" else f"-{model}"
    crop_part = f"-crop{crop}" if crop and crop != dataset.size else ""
    return (f"{dataset.run_prefix}{recipe}{rate_part}{model_part}{crop_part}-{profile}"
            f"-seed{seed}")


def build_image_model(model: str, dataset: ImageDataset):
    """An uninitialised ``model`` for ``dataset``'s images (the authors' ResNet-20 takes the
    dataset's channels and mean; GluonCV's layouts take CIFAR-10's RGB input only)."""
    check_image_model(model, dataset)
    if model == "resnet20":
        return get_model(model, **dataset.model_kwargs())
    return get_model(model)


def check_image_model(model: str, dataset: ImageDataset) -> None:
    """A one-line error unless ``model`` is a registered image model that takes ``dataset``'s
    images."""
    if model not in IMAGE_MODELS:
        raise UsageError(f"unknown model {model!r}; valid: {', '.join(IMAGE_MODELS)}")
    if model != "resnet20" and dataset.channels != 3:
        raise UsageError(f"--model {model} takes RGB images; {dataset.title} has "
                         f"{dataset.channels} channel(s): use --model resnet20")


def _weights_of(name: str) -> tuple[str, float]:
    """'dense' -> ('dense', 0), 'dropout0.3' -> ('dropout', 0.3)."""
    if name.startswith("dropout"):
        return "dropout", float(name[len("dropout"):])
    return name, 0.0


class TrainedModels:
    """Trained weights by name (``dense``, ``adv``, ``dropout0.3``), each loaded once, and their
    defended versions; ``ids[name]`` is the checkpoint id rows record (path@sha256 prefix)."""

    def __init__(self, dataset: ImageDataset, *, profile: str, seed: int,
                 model: str = "resnet20", dense: str = "", models_dir: str = "", crop: int = 0):
        check_image_model(model, dataset)
        if dense not in ("", "gluoncv"):
            raise UsageError(f"--dense must be 'gluoncv' or empty, got {dense!r}")
        if dense == "gluoncv" and (dataset.channels, dataset.size) != (3, 32):
            raise UsageError(f"--dense gluoncv is GluonCV's CIFAR-10 model (32x32 RGB); "
                             f"{dataset.title} needs our trained dense model: drop --dense gluoncv "
                             "(DENSE=gluoncv)")
        if dense == "gluoncv" and crop and crop != dataset.size:
            raise UsageError(f"--dense gluoncv takes whole {dataset.size}x{dataset.size} "
                             "images; drop --crop")
        self.dataset, self.profile, self.seed, self.model = dataset, profile, seed, model
        self.crop = crop
        self.dense, self.models_dir = dense, models_dir
        self.nets, self.ids, self.defended = {}, {}, {}

    def run_dir(self, name: str) -> Path:
        recipe, rate = _weights_of(name)
        models = Path(self.models_dir) if self.models_dir else (
            self.dataset.models_dir(self.profile))
        return models / train_run_name(self.dataset, recipe=recipe, rate=rate, model=self.model,
                                       profile=self.profile, seed=self.seed, crop=self.crop)

    def base(self, name: str):
        if name in self.nets:
            return self.nets[name]
        if name == "dense" and self.dense == "gluoncv":
            net = get_model("cifar_resnet20_v2")
            net.initialize()
            load_gluoncv_weights(net, "cifar_resnet20_v2")
            self.ids[name] = "gluoncv:cifar_resnet20_v2"
        else:
            params = self.run_dir(name) / "final.params"
            if not params.is_file():
                recipe = {"dense": "dense", "adv": "adv-train"}.get(name, "dropout-train")
                crop = f" CROP={self.crop}" if self.crop and self.crop != self.dataset.size else ""
                arch = "" if self.model == "resnet20" else f" MODEL={self.model}"
                raise UsageError(f"no trained {name} model at {rel(params)}: run `make "
                                 f"{self.dataset.make_prefix}-{recipe} PROFILE={self.profile} "
                                 f"SEED={self.seed}{arch}{crop}{self.dataset.make_vars}` first")
            digest = manifest.verify(params, fix=f"restore it (git checkout -- {rel(params)}) "
                                     "or retrain it with --fresh")[:12]
            net = build_image_model(self.model, self.dataset)
            net.load_parameters(str(params))
            self.ids[name] = f"{rel(params)}@{digest}"
        net.hybridize(static_alloc=True)
        self.nets[name] = net
        return net

    def defend(self, model: str, defense: str = "none", param=None):
        """``model``'s weights with ``defense`` at ``param`` (the paper's legend value)."""
        key = (model, defense, param)
        if key not in self.defended:
            net = self.base(model)
            self.defended[key] = net if defense == "none" else sap_mx.defend(
                net, defense, **DEFENSE_ARGS[defense](param))
        return self.defended[key]


# ---------------------------------------------------------------------------------------------
# Khan et al.'s MLPs
# ---------------------------------------------------------------------------------------------
MLP_MODELS = {  # Table 1 column -> registry name
    "Vanilla MLP": "mlp_vanilla", "SDR-decay MLP": "mlp_sdr_decay",
    "Learnable SDR MLP": "mlp_sdr_learnable", "DropConnect": "mlp_dropconnect",
}
def mlp_run_dir(models_dir: Path, name: str, profile: str, seed: int) -> Path:
    return Path(models_dir) / f"{name}-{profile}-seed{seed}"


def mlp_checkpoint_id(run_dir: Path) -> str:
    """The id that result rows give the MLP trained in ``run_dir`` (its last checkpoint):
    ``<run dir>@epoch<E>#<first 12 hex digits of the weights' SHA-256>``. A model trained anew
    in the same folder for as many epochs gets another id, so rows measured on the old weights
    are never taken for its own."""
    meta, files = checkpoint.load(Path(run_dir) / "checkpoint")
    return _mlp_id(run_dir, meta, files)


def _mlp_id(run_dir: Path, meta: dict, files: dict) -> str:
    return f"{rel(run_dir)}@epoch{meta['epoch']}#{sha256_file(files['net.params'])[:12]}"


def load_mlp(name: str, run_dir: Path, *, profile: str, seed: int):
    """(net, checkpoint id) of the trained MLP in ``run_dir`` (its last checkpoint; the id:
    ``mlp_checkpoint_id``)."""
    if not checkpoint.exists(run_dir / "checkpoint"):
        raise UsageError(f"no trained {name} at {rel(run_dir)}: run `make mnist-sdr "
                         f"PROFILE={profile} SEED={seed}` first")
    meta, files = checkpoint.load(run_dir / "checkpoint")
    net = build_mlp(name)
    net.load_parameters(files["net.params"])
    return net, _mlp_id(run_dir, meta, files)
