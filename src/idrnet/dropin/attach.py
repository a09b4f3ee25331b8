"""IDRNet as a drop-in for a segmentation model a team already has (SMP, torchvision, their own).

``attach(model, num_classes)`` finds the layer that turns features into class logits (the
"classifier"), and puts an IDRNet head in its place: the features that fed the classifier go through
IDRNet's grouping, relation context and stage-2 decoder. The user's modules and parameters are kept
(the same objects, not copies). Where the classifier sees features finer than ``stride`` (SMP Unet's
full-resolution decoder output), IDRNet runs on average-pooled features and its logits, upsampled,
are added to the original classifier's, so the cost stays bounded and fine detail is kept.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.description import IGNORE_INDEX
from ..errors import InputError
from ..models.config import InferenceConfig
from ..models.heads import HeadOutputs, IDRNetHead
from ..models.segmentor import TrainOutputs
from .wrapped import WrappedModel


@dataclass
class AttachConfig:
    """How IDRNet was attached; IDRNet's widths, dropout and diagnostics default to the official values."""

    num_classes: int
    features: str = ""  # dotted path of the module whose input IDRNet takes ("" = the classifier's input)
    classifier: str = ""  # dotted path of the final classifier convolution
    stride: int = 8  # IDRNet works at no finer than 1/stride of the input
    feats_channels: int = 512
    transform_channels: int = 256
    dropout: float = 0.1
    stage1_loss_weight: float = 0.4
    aux_weight: float = 0.4  # weight of the model's own auxiliary output (torchvision's "aux"), if any
    relation_momentum: float = 0.1
    memory_momentum: float = 0.1
    learn_relations: bool = True
    use_dataset_representations: bool = True
    ignore_index: int = IGNORE_INDEX
    align_corners: bool = False
    size_divisor: int = 1  # inputs are padded to a multiple of this (SMP encoders need 32)
    input_size: tuple[int, int] | None = None  # the only size a fixed-size encoder takes: inputs padded to it
    inference: InferenceConfig = field(default_factory=InferenceConfig)


def _module_names(model: nn.Module, kind: type | None = None) -> list[str]:
    return [n for n, m in model.named_modules() if n and (kind is None or isinstance(m, kind))]


def get_submodule(model: nn.Module, path: str, what: str) -> nn.Module:
    """``model``'s submodule at ``path``; an unknown path is an error listing the closest names."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        names = _module_names(model)
        close = difflib.get_close_matches(path, names, n=5, cutoff=0.4)
        convs = _module_names(model, nn.Conv2d)[-5:]
        raise InputError(f"{what} {path!r} is not a submodule of {type(model).__name__}; closest names: "
                         f"{', '.join(close) or '—'}; its last convolutions: {', '.join(convs) or '—'}") from None


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, module)


class IDRNetClassifier(nn.Module):
    """Takes the place of a model's classifier: IDRNet on the features the classifier received (or on
    the output of another module, tapped by a hook).

    With ``pool`` > 1 IDRNet runs on features average-pooled by ``pool`` and the output is
    ``original(x) + upsample(IDRNet)``; with ``pool`` = 1 IDRNet's logits replace the original
    classifier, which is then not kept (``original`` is None).
    """

    def __init__(self, original: nn.Module | None, head: IDRNetHead, pool: int) -> None:
        super().__init__()
        self.original = original
        self.head = head
        self.pool = pool
        self.tapped: torch.Tensor | None = None  # set by the features hook when IDRNet taps another module
        self.capture: HeadOutputs | None = None
        self.capturing = False
        self.taps_features = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits at the classifier input's resolution."""
        if torch.jit.is_scripting():
            # A scripted model has no Python hooks (no tapped features) and does not train.
            if self.taps_features:
                raise RuntimeError("IDRNet attached with features=... cannot run as TorchScript; trace it instead")
            logits = self.head([self._pooled(x)])
        else:
            logits = self._eager_logits(x)
        if logits.shape[2:] != x.shape[2:]:
            logits = F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=self.head.align_corners)
        if self.original is None:
            return logits
        return self.original(x) + logits

    def _pooled(self, feats: torch.Tensor) -> torch.Tensor:
        if self.pool > 1:
            return F.avg_pool2d(feats, self.pool, self.pool, ceil_mode=True)
        return feats

    @torch.jit.unused
    def _eager_logits(self, x: torch.Tensor) -> torch.Tensor:
        """IDRNet's logits on the tapped features (or ``x``); in a training step, also keeps the head's
        training outputs for the loss."""
        feats, self.tapped = (x if self.tapped is None else self.tapped), None
        pooled = self._pooled(feats)
        if self.capturing:
            self.capture = self.head.forward_train([pooled])
            return self.capture.logits
        return self.head([pooled])


class AttachedModel(WrappedModel):
    """A user's segmentation model with IDRNet in its classifier's place.

    ``forward(images)`` returns what the original model returns (a tensor, or torchvision's dict with
    ``"out"``/``"aux"``), shaped the same. ``forward_scores`` returns the logits tensor the idrnet
    tools use; :func:`idrnet.training_losses` trains it like our own models (``decode_head`` is the IDRNet
    head and its statistics hook runs after each training forward).
    """

    def __init__(self, model: nn.Module, classifier_path: str, config: AttachConfig) -> None:
        super().__init__(model, config)
        self.classifier_path = classifier_path

    @property
    def idrnet_classifier(self) -> IDRNetClassifier:
        """The module that took the classifier's place (inside ``self.model``)."""
        return self.model.get_submodule(self.classifier_path)  # type: ignore[return-value]

    @property
    def decode_head(self) -> IDRNetHead:  # type: ignore[override]
        """The IDRNet head (relation statistics, the statistics hook)."""
        return self.idrnet_classifier.head

    def compile_parts(self) -> list[nn.Module]:
        """Everything but the IDRNet classifier (its diagnostics replay dropout masks, kept eager)."""
        return [m for name, m in self.model.named_children() if not self.classifier_path.startswith(name)]

    def forward_train(self, images: torch.Tensor) -> TrainOutputs:
        """All logits a training step supervises: the model's output (main), its own auxiliary output
        (``aux``), IDRNet's stage 1, and IDRNet's state for the deletion diagnostics."""
        tap = self.idrnet_classifier
        tap.capturing, tap.capture = True, None
        try:
            output = self(images)
        finally:
            tap.capturing = False
        captured, tap.capture = tap.capture, None
        if captured is None:
            raise RuntimeError("the model's forward did not run its classifier; check the classifier path")
        outputs = self._outputs(output)
        outputs.auxiliary.update(captured.auxiliary)
        return TrainOutputs(outputs.logits, outputs.auxiliary, captured.state)


def _find_classifier(model: nn.Module, num_classes: int) -> str:
    """The last Conv2d with ``num_classes`` output channels (the usual final classifier)."""
    candidates = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.out_channels == num_classes]
    if not candidates:
        convs = _module_names(model, nn.Conv2d)[-5:]
        raise InputError(f"no Conv2d with {num_classes} output channels in {type(model).__name__}: pass "
                         f"classifier='path.to.final_conv' (its last convolutions: {', '.join(convs) or '—'})")
    return candidates[-1]


def _blank_forward(model: nn.Module, size: int, channels: int, input_size: tuple[int, int] | None) -> None:
    """One eval-mode forward of a blank image (``input_size``, else ``size``²) without gradients; the
    model's mode is restored."""
    was_training = model.training
    device, dtype = _placement(model)
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, channels, *(input_size or (size, size)), device=device, dtype=dtype))
    finally:
        model.train(was_training)


def _placement(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of ``model``'s weights (a model moved to a GPU, or halved, before
    IDRNet is attached): the probe's image and the new head go there. CPU float32 for a model without any."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def _probe(model: nn.Module, classifier: nn.Module, features: nn.Module | None, size: int, channels: int,
           input_size: tuple[int, int] | None = None) -> tuple:
    """Shapes of the classifier's input and of the tapped features, from one eval forward of a blank image."""
    seen: dict[str, tuple[int, ...]] = {}

    def record(key: str, tensor: Any) -> None:  # hooks must return None (a value would replace the input)
        seen.setdefault(key, tuple(tensor.shape))

    hooks = [classifier.register_forward_pre_hook(lambda m, args: record("classifier", args[0]))]
    if features is not None:
        hooks.append(features.register_forward_hook(lambda m, args, out: record("features", out)))
    try:
        _blank_forward(model, size, channels, input_size)
    finally:
        for h in hooks:
            h.remove()
    if "classifier" not in seen:
        raise InputError("the model's forward did not run the classifier; pass classifier='path.to.final_conv'")
    return seen["classifier"], seen.get("features")


def attach(
    model: nn.Module,
    num_classes: int,
    features: str | None = None,
    classifier: str | None = None,
    probe_size: int = 128,
    in_channels: int = 3,
    **options: Any,
) -> AttachedModel:
    """The IDRNet version of ``model`` (see the module docstring); ``model`` itself is changed in place
    (its classifier replaced) and wrapped.

    ``classifier``: dotted path of the final classifier convolution (found automatically for SMP and
    torchvision models, and otherwise as the last ``Conv2d`` with ``num_classes`` outputs).
    ``features``: dotted path of a module whose *output* IDRNet takes instead of the classifier's input.
    ``options``: fields of :class:`AttachConfig` (``stride``, ``feats_channels``, ``transform_channels``,
    ``dropout``, ``aux_weight``, ``ignore_index``, ``size_divisor`` …). One eval forward of a blank
    ``probe_size``² image finds the widths and strides.
    """
    from ..config import from_dict

    if isinstance(model, type):
        raise InputError(f"attach takes a built model; got the class {model.__name__}: build it first "
                         f"(attach({model.__name__}(...), num_classes))")
    if not isinstance(model, nn.Module):
        raise InputError(f"attach takes a torch.nn.Module; got {type(model).__name__} {str(model)[:60]!r}")
    if isinstance(model, AttachedModel) or any(isinstance(m, IDRNetClassifier) for m in model.modules()):
        raise InputError("IDRNet is already attached to this model")
    _check_num_classes(num_classes)
    family = _family_defaults(model)
    classifier = classifier or family.get("classifier") or _find_classifier(model, num_classes)
    original = get_submodule(model, classifier, "classifier")
    tap = get_submodule(model, features, "features") if features else None
    values = {**{k: v for k, v in family.items() if k != "classifier"}, **options,
              "num_classes": num_classes, "classifier": classifier, "features": features or ""}
    config = from_dict(AttachConfig, values, where="attach")
    size = max(probe_size, 2 * config.size_divisor)
    size += (-size) % max(config.size_divisor, 1)
    if config.input_size is not None:
        size = config.input_size[0]
    classifier_shape, feature_shape = _probe(model, original, tap, size, in_channels, config.input_size)
    shape = feature_shape or classifier_shape
    if len(shape) != 4:
        raise InputError(f"IDRNet needs (B, C, H, W) features; {features or classifier} gives shape {shape}")
    tap_stride = max(1, round(size / shape[2]))
    pool = max(1, config.stride // tap_stride)
    kept = pool > 1 or tap is not None  # the original classifier's logits are added to IDRNet's
    if kept and isinstance(original, nn.Conv2d) and original.out_channels != num_classes:
        raise InputError(f"the classifier {classifier} has {original.out_channels} output channels but num_classes "
                         f"is {num_classes}; IDRNet's logits are added to that classifier's here (it runs at "
                         f"1/{config.stride}), so build the model for {num_classes} classes")
    head = IDRNetHead(
        [shape[1]], num_classes, feats_channels=config.feats_channels, transform_channels=config.transform_channels,
        dropout=config.dropout, relation_momentum=config.relation_momentum, memory_momentum=config.memory_momentum,
        align_corners=config.align_corners, learn_relations=config.learn_relations,
        use_dataset_representations=config.use_dataset_representations, stage1_loss_weight=config.stage1_loss_weight,
    )
    # Not kept, the classifier is replaced whatever its width: a pretrained model (torchvision's 21 VOC
    # classes) takes IDRNet for other classes.
    replacement = IDRNetClassifier(original if kept else None, head, pool).to(*_placement(original))
    if tap is not None:
        replacement.taps_features = True

        def keep(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            replacement.tapped = out

        tap.register_forward_hook(keep)
    _set_submodule(model, classifier, replacement)
    _check_still_runs(model, classifier, original, num_classes, size, in_channels, config.input_size)
    if isinstance(original, nn.Conv2d) and original.out_channels != num_classes:
        _renew_auxiliary_classifier(model, original.out_channels, num_classes)
    return AttachedModel(model, classifier, config)


def _renew_auxiliary_classifier(model: nn.Module, old_classes: int, num_classes: int) -> None:
    """A torchvision model taken for other classes than it was trained on keeps an auxiliary head whose
    last convolution still gives the old classes; its loss on the new labels would fail (a label above
    the old count) or teach the wrong classes. That convolution is made anew for ``num_classes``, as
    torchvision's fine-tuning recipes do by hand; the layers before it keep their weights."""
    auxiliary = getattr(model, "aux_classifier", None)
    if not isinstance(auxiliary, nn.Sequential) or not isinstance(auxiliary[-1], nn.Conv2d):
        return
    last = auxiliary[-1]
    if last.out_channels == old_classes:
        auxiliary[-1] = nn.Conv2d(last.in_channels, num_classes, last.kernel_size, last.stride, last.padding,
                                  bias=last.bias is not None).to(last.weight.device, last.weight.dtype)


def _check_still_runs(model: nn.Module, path: str, original: nn.Module, num_classes: int, size: int,
                      channels: int, input_size: tuple[int, int] | None) -> None:
    """One eval forward with IDRNet in place of the classifier. If the model fails, the original classifier
    is put back, so that the model is left as it was, and the error says why: a classifier replaced for
    other classes than it had while another part still gives the old number (torchvision's LR-ASPP sums two
    classifiers), or a ``classifier`` path naming a module whose output is not the class scores (an
    activation, a block of the encoder), which attached silently and failed at the first forward."""
    try:
        _blank_forward(model, size, channels, input_size)
    except RuntimeError as err:
        _set_submodule(model, path, original)
        first = str(err).splitlines()[0]
        if isinstance(original, nn.Conv2d) and original.out_channels != num_classes:
            raise InputError(f"with num_classes={num_classes} instead of the classifier's {original.out_channels} the "
                             f"model fails ({first}): another part of it still gives {original.out_channels} class "
                             f"outputs; build the model for {num_classes} classes") from None
        convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.out_channels == num_classes]
        hint = f" ({', '.join(convs[-3:])} {'gives' if len(convs[-3:]) == 1 else 'give'} {num_classes} channels)" if convs else ""
        raise InputError(f"with IDRNet in place of {path} ({type(original).__name__}) the model fails ({first}): the "
                         "classifier must be the module whose output is the class scores, usually the final "
                         f"convolution{hint}, or a head that ends in it") from None


def _check_num_classes(num_classes: int) -> None:
    """At least two classes: IDRNet's losses are cross-entropies over the classes, zero for one class, so a
    binary model kept at one sigmoid output would train nothing."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"num_classes={num_classes!r}: expected an integer of at least 2")
    if num_classes == 1:
        raise InputError("num_classes=1: IDRNet needs at least 2 classes (its losses are cross-entropies over the "
                         "classes, zero for one class); a binary model (one output and a sigmoid) becomes a "
                         "two-class one: build it with 2 classes and attach(model, num_classes=2), labels 0 and 1, "
                         "prediction logits.argmax(1)")


def _family_defaults(model: nn.Module) -> dict[str, Any]:
    """Classifier path and options of known model families (SMP, torchvision)."""
    cls = type(model)
    module = cls.__module__
    if module.startswith("segmentation_models_pytorch"):
        head = getattr(model, "segmentation_head", None)
        if head is None:
            return {}
        activation = getattr(head[-1], "activation", None) if isinstance(head, nn.Sequential) else None
        if activation is not None and not isinstance(activation, nn.Identity):
            # The losses, metrics and A/B read logits: training on probabilities would run, and be wrong.
            raise InputError(f"this {cls.__name__} ends in an activation ({type(activation).__name__}); idrnet "
                             "trains and evaluates logits: build it with activation=None and apply the activation "
                             "to its output")
        encoder = getattr(model, "encoder", None)
        divisor = int(getattr(encoder, "output_stride", 32) or 32)
        if cls.__name__ == "DPT":  # its decoder halves the patch grid once more (176² fails, 160² and 192² pass)
            divisor *= 2
        # Usually segmentation_head.0; DPT's head ends in head.4: the head's last convolution.
        convs = [n for n, m in head.named_modules() if isinstance(m, nn.Conv2d)]
        defaults: dict[str, Any] = {"classifier": f"segmentation_head.{convs[-1]}" if convs else "segmentation_head.0",
                                    "size_divisor": max(divisor, 1)}
        vit = getattr(encoder, "model", None)
        if getattr(encoder, "is_fixed_input_size", False) and not getattr(vit, "dynamic_img_size", False):
            # DPT's ViT built without dynamic_img_size takes one size only
            defaults["input_size"] = tuple(int(v) for v in encoder.input_size[-2:])
        return defaults
    if module.startswith("torchvision.models.segmentation"):
        if cls.__name__ == "LRASPP":
            return {"classifier": "classifier.high_classifier"}
        return {"classifier": "classifier.4"}
    return {}
