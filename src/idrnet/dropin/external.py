"""Models of other libraries as config lines: ``model: {type: smp, arch: Unet, …, idrnet: true}``.

The same YAML with ``idrnet: false`` is the baseline (the library's model as it is), so the two are
compared with ``idrnet compare``. Checkpoints record the library, its version and the arguments.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch.nn as nn

from ..data.description import ignore_label
from ..errors import InputError
from ..models.external_config import (  # noqa: F401 - the config lines are models' data; dropin names them too
    ExternalModelConfig, SMPModelConfig, TorchvisionModelConfig, library_of,
)


# What a config line (and so a model file's metadata) may name: the architectures of docs/dropin.md and
# their plain decoder options. A name is looked up here, never called because the library happens to
# have an attribute of that name (which would let a model file run any of the library's functions).
SMP_ARCHITECTURES = ("Unet", "UnetPlusPlus", "Linknet", "MAnet", "FPN", "DeepLabV3Plus", "UPerNet", "Segformer",
                     "PSPNet", "DeepLabV3", "PAN", "DPT")
SMP_OPTIONS = frozenset({
    "encoder_depth", "encoder_output_stride", "in_channels", "upsampling", "decoder_use_norm", "decoder_channels",
    "decoder_attention_type", "decoder_interpolation", "decoder_pab_channels", "decoder_pyramid_channels",
    "decoder_segmentation_channels", "decoder_merge_policy", "decoder_dropout", "decoder_atrous_rates",
    "decoder_aspp_separable", "decoder_aspp_dropout", "psp_out_channels", "psp_dropout",
    # DPT (a timm ViT encoder: encoder_name tu-…; dynamic_img_size lets it take any size)
    "encoder_output_indices", "decoder_readout", "decoder_intermediate_channels", "decoder_fusion_channels",
    "dynamic_img_size",
    "aux_params",  # SMP's optional classification head: a mapping of AUX_PARAMS
})
# SMP's aux_params keys; its activation by name only (SMP also takes a callable, which a file cannot hold).
AUX_PARAMS = frozenset({"classes", "pooling", "dropout", "activation"})
AUX_ACTIVATIONS = (None, "identity", "sigmoid", "softmax", "logsoftmax", "tanh")
TORCHVISION_MODELS = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                      "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")


def _check_options(options: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    """Options are allow-listed names with plain values (numbers, strings, booleans, lists of them)."""
    from ..config import ConfigError

    def plain(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str))

    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: not an option idrnet passes on (expected one of "
                              f"{', '.join(sorted(allowed)) or 'none'})")
        if key == "aux_params" and value is not None:
            _check_aux_params(value, f"{where}.{key}")
            continue
        if not plain(value):
            raise ConfigError(f"{where}.{key}: expected a number, string, boolean or list of them, got {type(value).__name__}")


def _check_aux_params(value: Any, where: str) -> None:
    """SMP's aux_params: a mapping of its keys with plain values and an activation named, not given."""
    from ..config import ConfigError

    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(sorted(AUX_PARAMS))}, got {type(value).__name__}")
    for key, item in value.items():
        if key not in AUX_PARAMS:
            raise ConfigError(f"{where}.{key}: not one of SMP's aux_params (expected one of {', '.join(sorted(AUX_PARAMS))})")
        if key == "activation" and item not in AUX_ACTIVATIONS:
            raise ConfigError(f"{where}.activation: {item!r} is not one of "
                              f"{', '.join(str(a) for a in AUX_ACTIVATIONS)} (a callable cannot be saved)")
        if key != "activation" and not (item is None or isinstance(item, (bool, int, float, str))):
            raise ConfigError(f"{where}.{key}: expected a number or string, got {type(item).__name__}")


def _check_smp_encoder(name: str) -> None:
    """An encoder SMP knows by name, or ``tu-`` and a timm model name (no ``hf-hub:`` or other downloads)."""
    from ..config import ConfigError

    import segmentation_models_pytorch as smp

    if name in smp.encoders.get_encoder_names():
        return
    if name.startswith("tu-"):
        import timm

        if name[3:] in timm.list_models():
            return
    raise ConfigError(f"model.encoder_name: {name!r} is not an encoder of segmentation_models_pytorch "
                      "(its own names, or tu- followed by a timm model name)")


def build_library_model(config: ExternalModelConfig) -> nn.Module:
    """The library's model as the config describes it (random weights but for the named encoder/backbone)."""
    from ..config import ConfigError

    library_of(config)
    if isinstance(config, SMPModelConfig):
        import segmentation_models_pytorch as smp

        if config.arch not in SMP_ARCHITECTURES:
            raise ConfigError(f"model.arch: {config.arch!r} is not an architecture idrnet attaches to; expected one of "
                              f"{', '.join(SMP_ARCHITECTURES)}")
        _check_options(config.options, SMP_OPTIONS, "model.options")
        _check_smp_encoder(config.encoder_name)
        return getattr(smp, config.arch)(encoder_name=config.encoder_name, encoder_weights=config.encoder_weights,
                                         classes=config.num_classes, **config.options)
    import torchvision.models.segmentation as seg

    if config.name not in TORCHVISION_MODELS:
        raise ConfigError(f"model.name: {config.name!r} is not a torchvision segmentation model; expected one of "
                          f"{', '.join(TORCHVISION_MODELS)}")
    _check_options(config.options, frozenset(), "model.options")
    builder = getattr(seg, config.name)
    extra = {} if config.name.startswith("lraspp") else {"aux_loss": config.aux_loss}
    return builder(weights=None, weights_backbone=config.weights_backbone, num_classes=config.num_classes,
                   **extra, **config.options)


def build_external(config: ExternalModelConfig) -> nn.Module:
    """The model of a config line: attached to IDRNet (``idrnet: true``) or as the library builds it."""
    from .attach import attach
    from .wrapped import WrappedModel

    if config.num_classes is None:
        raise InputError(f"{config.type} model: num_classes is not set: give it, or train the config on a dataset "
                         "(idrnet train fills it in from the data)")
    model = build_library_model(config)
    options = {"ignore_index": ignore_label(config.ignore_index), "inference": config.inference, **config.attach}
    if config.idrnet:
        attached = attach(model, config.num_classes, **options)
    else:
        attached = WrappedModel.of(model, config.num_classes, **options)
    attached.external = config
    return attached


def baseline_of(config: Any) -> Any:
    """The same model without IDRNet, for the other arm of an A/B test: a config line with
    ``idrnet: false``, or our config with IDRNet's head replaced by the network it extends (IDRNet-FCN →
    FCN, +PPM → PSPNet, +ASPP → DeepLabV3, +FPN → UPerNet, +OCR → OCRNet) with the same backbone,
    widths, auxiliary head and inference settings. A baseline given is an error naming its head."""
    from ..config import ConfigError
    from ..models.config import ModelConfig

    if isinstance(config, ModelConfig):
        baseline = getattr(config.head, "baseline", None)
        if baseline is None:
            raise ConfigError(f"model.head.type {config.head.type!r} is already a baseline: there is no IDRNet to remove")
        return dataclasses.replace(config, head=baseline())
    if not config.idrnet:
        raise ConfigError("model.idrnet is false: the config line is already a baseline")
    return dataclasses.replace(config, idrnet=False)


def build_any(config: Any) -> nn.Module:
    """The model a config describes: our :class:`~idrnet.models.config.ModelConfig`, or a config line of
    another library, randomly initialised."""
    from ..models.build import build_model
    from ..models.config import ModelConfig

    if isinstance(config, ModelConfig):
        return build_model(config)
    return build_external(config)


def config_line_of(model: nn.Module) -> SMPModelConfig:
    """The config line of a model IDRNet was attached to (or wrapped) by hand, read back from the SMP
    model's own record of its arguments, so that it is saved and rebuilt like a config-line model. What a
    config line cannot hold (another library's model, ``aux_params``, an activation) is an error naming it."""
    from .attach import AttachConfig, AttachedModel

    inner = getattr(model, "model", None)
    record = getattr(inner, "_hub_mixin_config", None)
    if record is None or not type(inner).__module__.startswith("segmentation_models_pytorch"):
        raise InputError(f"cannot save a {type(inner).__name__} with a way to rebuild it: only idrnet's models, SMP "
                         "models and config-line models (model: {type: smp|torchvision, …}) carry one")
    arguments = dict(record)
    if arguments.pop("activation", None) is not None:
        # The idrnet tools (losses, metrics, the A/B) read logits; an activation inside forward changes them.
        raise InputError("an SMP model with an activation cannot be saved as a config line: build it with "
                         "activation=None and apply the activation to its output")
    if arguments.get("aux_params") is None:
        arguments.pop("aux_params", None)
    encoder_name = arguments.pop("encoder_name", "resnet34")
    arguments.pop("encoder_weights", None)
    arguments.pop("classes", None)
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in arguments.items()}
    config = model.config
    defaults = AttachConfig(num_classes=config.num_classes)
    derived = {"num_classes", "classifier", "features", "ignore_index", "inference", "size_divisor", "input_size"}
    attach_options = {f.name: getattr(config, f.name) for f in dataclasses.fields(AttachConfig)
                      if f.name not in derived and getattr(config, f.name) != getattr(defaults, f.name)}
    line = SMPModelConfig(num_classes=config.num_classes, arch=type(inner).__name__, encoder_name=encoder_name,
                          options=options, idrnet=isinstance(model, AttachedModel), attach=attach_options,
                          ignore_index=config.ignore_index, inference=config.inference)
    if line.arch not in SMP_ARCHITECTURES:
        raise InputError(f"SMP's {line.arch} cannot be saved as a config line yet (expected one of "
                         f"{', '.join(SMP_ARCHITECTURES)}); save its state_dict")
    _check_options(line.options, SMP_OPTIONS, f"{line.arch} arguments")
    return line
