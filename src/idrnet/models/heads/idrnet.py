"""The IDRNet decode head: semantic grouping, relation-guided context and deletion diagnostics."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Literal, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from ...errors import InputError
from ...distributed import is_distributed
from .. import relation_ops as ops
from ..context_modules import build_context_module
from ..fpn import PyramidFusion, build_fpn_convs
from ..layers import auxiliary_head, classifier, conv_bn_relu
from ..pixel_loss import upsampled_cross_entropy
from ..self_attention import SelfAttention
from .base import AuxiliaryLogits, DecodeHead, HeadOutputs
from .ocrnet import ObjectContextBlock, spatial_gather


@dataclass
class IDRNetHeadConfig:
    """IDRNet's head. ``context``: none (IDRNet-FCN), ``aspp`` (+DeepLabV3) or ``ppm`` (+PSPNet), with
    ``pool_scales``/``dilations``, or ``ocr`` (+OCRNet: object regions from an FCN of ``regions_channels``
    on the third stage, loss weight ``regions_weight``; see docs/design.md); ``fpn_channels``: an UPerNet
    pyramid over the other stages; ``context_refiner``: self-attention on the coarse context before or
    after stage 1."""

    type: Literal["idrnet"] = "idrnet"
    feats_channels: int = 512
    dropout: float = 0.1
    pool_scales: tuple[int, ...] = (1, 2, 3, 6)
    dilations: tuple[int, ...] = (1, 12, 24, 36)
    context: Literal["aspp", "ppm", "ocr"] | None = None
    context_refiner: Literal["before", "after"] | None = None
    fpn_channels: int | None = None
    transform_channels: int = 256
    stage1_on_features: bool = False
    stage1_loss_weight: float = 0.4
    relation_momentum: float = 0.1
    memory_momentum: float = 0.1
    intervention_updates_bn_stats: bool = True
    regions_channels: int = 512
    regions_dropout: float = 0.0
    regions_weight: float = 0.4
    # Ablations (not in the reference): keep the relation matrices at identity (no deletion
    # diagnostics), or keep the dataset-level class representations at zero (never updated).
    learn_relations: bool = True
    use_dataset_representations: bool = True

    def baseline(self) -> Any:
        """The same network without IDRNet: IDRNet-FCN → FCN, +PPM → PSPNet, +ASPP → DeepLabV3, +FPN →
        UPerNet, +OCR → OCRNet, with the same widths and dropout."""
        from .deeplabv3 import DeepLabV3HeadConfig
        from .fcn import FCNHeadConfig
        from .ocrnet import OCRNetHeadConfig
        from .pspnet import PSPHeadConfig
        from .upernet import UPerHeadConfig

        if self.fpn_channels is not None:
            return UPerHeadConfig(feats_channels=self.fpn_channels, dropout=self.dropout, pool_scales=self.pool_scales)
        if self.context == "aspp":
            return DeepLabV3HeadConfig(feats_channels=self.feats_channels, dropout=self.dropout, dilations=self.dilations)
        if self.context == "ocr":
            return OCRNetHeadConfig(feats_channels=self.feats_channels, transform_channels=self.transform_channels,
                                    dropout=self.dropout, regions_channels=self.regions_channels,
                                    regions_dropout=self.regions_dropout, regions_weight=self.regions_weight)
        if self.context == "ppm":
            return PSPHeadConfig(feats_channels=self.feats_channels, dropout=self.dropout, pool_scales=self.pool_scales)
        return FCNHeadConfig(feats_channels=self.feats_channels, dropout=self.dropout)


@dataclass
class IDRNetTrainState:
    """What the training forward keeps for the deletion diagnostics (all tensors of one step)."""

    features: torch.Tensor
    features_with_memory: torch.Tensor
    stage1_logits: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    pooled: torch.Tensor
    fused_context: torch.Tensor | None
    stage2_logits: torch.Tensor
    dropout_rng_state: torch.Tensor


class IDRNetHead(DecodeHead, PyramidFusion):
    """IDRNet on top of a backbone's feature pyramid.

    ``features`` are the backbone stages, fine to coarse; the last one feeds the head. With
    ``context="aspp"|"ppm"`` a context module (DeepLabV3/PSPNet) is added, with ``fpn_channels`` an
    UPerNet pyramid over the other stages. ``forward`` returns the stage-2 logits at the head's
    resolution (1/8 of the input, or 1/4 with the pyramid).

    Running statistics (buffers, saved in checkpoints, used at inference):
    ``class_relations_mean``/``class_relations_var`` (K×K; row i, column j: how much deleting class i
    raised the mean / variance of the loss on class j), ``selected_classes_counter`` (K; how often each
    class was deleted) and ``dl_cls_representations`` (K×C; dataset-level class representations).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        feats_channels: int = 512,
        transform_channels: int = 256,
        context: Literal["aspp", "ppm", "ocr"] | None = None,
        dilations: Sequence[int] = (1, 12, 24, 36),
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        context_refiner: Literal["before", "after"] | None = None,
        fpn_channels: int | None = None,
        stage1_on_features: bool = False,
        dropout: float = 0.1,
        relation_momentum: float = 0.1,
        memory_momentum: float = 0.1,
        align_corners: bool = False,
        intervention_updates_bn_stats: bool = True,
        learn_relations: bool = True,
        use_dataset_representations: bool = True,
        stage1_loss_weight: float = 0.4,
        regions_channels: int = 512,
        regions_dropout: float = 0.0,
        regions_weight: float = 0.4,
    ) -> None:
        super().__init__()
        if context == "ocr" and fpn_channels is not None:
            raise InputError("an IDRNet head with OCR context has no FPN (fpn_channels must be null)")
        if fpn_channels is not None and context is None:
            raise InputError("an IDRNet head with an FPN (UPerNet) needs context='aspp' or 'ppm'")
        if context_refiner is not None and context is None:
            raise InputError("context_refiner needs a context module ('aspp', 'ppm' or 'ocr')")
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.stage1_loss_weight = stage1_loss_weight
        self.context_refiner_position = context_refiner
        self.stage1_on_features = stage1_on_features
        self.relation_momentum = relation_momentum
        self.memory_momentum = memory_momentum
        self.intervention_updates_bn_stats = intervention_updates_bn_stats
        self.learn_relations = learn_relations
        self.use_dataset_representations = use_dataset_representations
        self.deletion_generator: torch.Generator | None = None

        c = feats_channels
        self.bottleneck = conv_bn_relu(in_channels[-1], c, 3)
        context_channels = 0
        self.coarse_context_module: nn.Module | None = None
        self.coarse_context_refiner: SelfAttention | None = None
        self.object_regions: nn.Module | None = None
        self.regions_weight = regions_weight
        if context == "ocr":
            # OCR's augmented representation is the coarse context: soft object regions predicted on the
            # third stage weight the bottleneck features into class representations, which every pixel
            # attends to (the OCRNet modules, under IDRNet's names).
            context_channels = c
            self.object_regions = auxiliary_head(in_channels[-2], regions_channels, num_classes, regions_dropout)
            self.coarse_context_module = ObjectContextBlock(c, transform_channels)
            if context_refiner is not None:
                self.coarse_context_refiner = SelfAttention(context_channels, transform_channels, context_channels)
        elif context is not None:
            context_channels = fpn_channels if fpn_channels is not None else c
            self.coarse_context_module = build_context_module(context, c, context_channels, dilations, pool_scales, align_corners)
            if context_refiner is not None:
                self.coarse_context_refiner = SelfAttention(context_channels, transform_channels, context_channels)
        self.lateral_convs: nn.ModuleList | None = None
        self.fpn_convs: nn.ModuleList | None = None
        fused_channels = context_channels
        if fpn_channels is not None:
            self.lateral_convs, self.fpn_convs = build_fpn_convs(list(in_channels), fpn_channels, fpn_channels)
            fused_channels = context_channels + fpn_channels * (len(in_channels) - 1)

        self.register_buffer("class_relations_mean", torch.eye(num_classes))
        self.register_buffer("class_relations_var", torch.eye(num_classes))
        self.register_buffer("selected_classes_counter", torch.full((num_classes,), 1e-6))
        self.register_buffer("dl_cls_representations", torch.zeros(num_classes, c))

        self.idcontext_refiner = SelfAttention(6 * c, transform_channels, c)
        stage1_channels = c if (stage1_on_features or context is None) else context_channels
        self.decoder_stage1 = classifier(stage1_channels, c, num_classes, dropout)
        self.decoder_stage2 = classifier(2 * c + fused_channels, c, num_classes, dropout)

    # The deletion diagnostics replay the training forward's dropout masks from a saved RNG state.
    replays_random_state: ClassVar[bool] = True

    # ----------------------------------------------------------------------------- forward passes
    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Stage-2 logits ``(B, K, h, w)``."""
        feats, _, _, _, _, _, fused, _, id_context = self._context(features)
        return self._stage2(feats, id_context, fused)

    def forward_train(self, features: Sequence[torch.Tensor]) -> HeadOutputs:
        """Stage-2 logits, stage-1 logits (auxiliary, weight ``stage1_loss_weight``) and the state the
        deletion diagnostics need."""
        feats, with_memory, stage1, labels, masks, pooled, fused, rng, regions, stage2 = self._forward(features, keep_rng=True)
        state = IDRNetTrainState(feats, with_memory, stage1, labels, masks, pooled, fused, stage2, rng)
        auxiliary = {"stage1": AuxiliaryLogits(stage1, self.stage1_loss_weight)}
        if regions is not None:
            auxiliary["aux"] = AuxiliaryLogits(regions, self.regions_weight)
        return HeadOutputs(stage2, auxiliary, state)

    @torch.no_grad()
    def explain(self, features: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the relation module does for these images: the stage-1 semantic groups ``labels``
        ``(B, h, w)``, which classes are ``present`` ``(B, K)``, and the context weights ``(B, K, K)``
        (row k: how much of the context given to group k comes from each group j) of both matrices."""
        _, _, stage1, _ = self._stage1(features)
        labels = stage1.argmax(dim=1)
        present = ops.class_masks(labels.flatten(1), self.num_classes).any(dim=2)
        return {
            "labels": labels,
            "present": present,
            "weights_mean": ops.relation_weights(self.class_relations_mean, present, True),
            "weights_var": ops.relation_weights(self.class_relations_var, present, False),
        }

    def _stage1(
        self, features: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """Bottleneck features, coarse context (refined if the refiner comes before), stage-1 logits and
        (OCR context) the object-region logits."""
        # Written so that TorchScript can compile it: absent modules are tested with ``is not None``
        # (resolved when the module is scripted), never through another attribute; the refiner's position
        # is tested in a nested ``if`` because TorchScript compiles every operand of a condition, and the
        # position is None where there is no refiner.
        feats = self.bottleneck(features[-1])
        coarse: torch.Tensor | None = None
        regions: torch.Tensor | None = None
        if self.object_regions is not None:
            regions = self.object_regions(features[-2])
            coarse = self.coarse_context_module(feats, spatial_gather(feats, regions))
        elif self.coarse_context_module is not None:
            coarse = self.coarse_context_module(feats)
        if self.coarse_context_refiner is not None and coarse is not None:
            if self.context_refiner_position == "before":
                coarse = self.coarse_context_refiner(coarse)
        source = feats
        if coarse is not None and not self.stage1_on_features:
            source = coarse
        stage1 = self.decoder_stage1(source)
        return feats, coarse, stage1, regions

    def _context(self, features: list[torch.Tensor]) -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None,
        torch.Tensor | None, torch.Tensor,
    ]:
        """Everything before stage 2: bottleneck features, features with the dataset-level class
        representations, stage-1 logits, pseudo-labels, class masks, pooled class vectors, the fused
        context (None without a context module), object-region logits (OCR) and the relation context."""
        feats, coarse, stage1, regions = self._stage1(features)
        if self.coarse_context_refiner is not None and coarse is not None:
            if self.context_refiner_position == "after":
                coarse = self.coarse_context_refiner(coarse)

        b, c, h, w = feats.shape
        labels = stage1.argmax(dim=1).flatten(1)
        masks = ops.class_masks(labels, self.num_classes)
        present = masks.any(dim=2)
        memory = self.dl_cls_representations.to(feats.dtype)
        with_memory = torch.cat([feats, memory[labels].transpose(1, 2).reshape(b, c, h, w)], dim=1)
        pooled = ops.pool_classes(feats.flatten(2), stage1.flatten(2), masks)
        id_context = self._relation_refine(with_memory, pooled, labels, present)

        fused = coarse
        if self.fpn_convs is not None and coarse is not None:
            fused = self.fuse_pyramid(features[:-1], coarse)
        return feats, with_memory, stage1, labels, masks, pooled, fused, regions, id_context

    def _forward(self, features: Sequence[torch.Tensor], keep_rng: bool = False) -> tuple:
        feats, with_memory, stage1, labels, masks, pooled, fused, regions, id_context = self._context(list(features))
        rng = _rng_state(feats.device) if keep_rng else None
        stage2 = self._stage2(feats, id_context, fused)
        return feats, with_memory, stage1, labels, masks, pooled, fused, rng, regions, stage2

    def _relation_refine(
        self, with_memory: torch.Tensor, pooled: torch.Tensor, labels: torch.Tensor, present: torch.Tensor
    ) -> torch.Tensor:
        b, c2, h, w = with_memory.shape
        memory = self.dl_cls_representations
        ctx_mean = ops.relation_context(pooled, memory, self.class_relations_mean, present, labels, True)
        ctx_var = ops.relation_context(pooled, memory, self.class_relations_var, present, labels, False)
        stacked = torch.cat([with_memory, ctx_mean.reshape(b, c2, h, w), ctx_var.reshape(b, c2, h, w)], dim=1)
        return self.idcontext_refiner(stacked)

    def _stage2(self, feats: torch.Tensor, id_context: torch.Tensor, fused: torch.Tensor | None) -> torch.Tensor:
        if fused is None:
            return self.decoder_stage2(torch.cat([feats, id_context], dim=1))
        if self.fpn_convs is not None:
            # Always resize to the pyramid's resolution (no shape comparison, which would put a guard
            # into exported graphs); with a plain context module the sizes already agree.
            size = fused.shape[2:]
            feats = F.interpolate(feats, size=size, mode="bilinear", align_corners=self.align_corners)
            id_context = F.interpolate(id_context, size=size, mode="bilinear", align_corners=self.align_corners)
        return self.decoder_stage2(torch.cat([feats, id_context, fused], dim=1))

    # ----------------------------------------------------------------------- statistics (training)
    @torch.no_grad()
    def update_statistics(
        self,
        state: IDRNetTrainState,
        targets: torch.Tensor,
        ignore_index: int,
        main_pixel_losses: tuple[torch.Tensor, torch.Tensor] | None = None,
        deleted_classes: torch.Tensor | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Deletion diagnostics and dataset-level representation update for one training step.

        Deletes one present class per image (sampled ∝ 1/counter unless ``deleted_classes`` is given),
        re-runs stage 2 with the same dropout masks, and moves ``class_relations_*[deleted, j]`` towards
        the rise of the mean/variance of the loss on every ground-truth class j. Then moves
        ``dl_cls_representations`` towards the batch's class means of the upsampled features. Under DDP
        the statistics are averaged across processes in place. Returns the deleted classes (empty when
        ``learn_relations`` is off; ``use_dataset_representations`` off leaves the representations at 0).
        ``main_pixel_losses`` (logits, per-pixel losses): when the logits are this step's stage-2 logits,
        their losses are the diagnostics' anchor instead of being computed again.
        """
        if options:
            raise TypeError(f"unknown option(s) of IDRNet's statistics update: {', '.join(options)}")
        k = self.num_classes
        valid = (targets >= 0) & (targets < k) & (targets != ignore_index)
        safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
        present = state.masks.any(dim=2)
        if not self.learn_relations:
            deleted_classes = torch.empty(0, dtype=torch.long, device=present.device)
        else:
            anchor = None
            if main_pixel_losses is not None and main_pixel_losses[0] is state.stage2_logits:
                anchor = main_pixel_losses[1]
            deleted_classes = self._deletion_diagnostics(state, present, valid, safe_targets, deleted_classes, anchor)
        if self.use_dataset_representations:
            sums, counts = ops.upsampled_class_sums(state.features.detach(), safe_targets, valid, k, self.align_corners)
            seen = (counts > 0).unsqueeze(1)
            means = sums / counts.clamp_min(1).unsqueeze(1)
            mm = self.memory_momentum
            memory = self.dl_cls_representations
            memory.copy_(torch.where(seen, mm * means + (1 - mm) * memory, memory))
            _all_reduce_mean_(self.dl_cls_representations)
        return deleted_classes

    def _deletion_diagnostics(
        self,
        state: IDRNetTrainState,
        present: torch.Tensor,
        valid: torch.Tensor,
        safe_targets: torch.Tensor,
        deleted_classes: torch.Tensor | None,
        anchor_losses: torch.Tensor | None = None,
    ) -> torch.Tensor:
        k = self.num_classes
        if deleted_classes is None:
            deleted_classes = ops.sample_deletions(present, self.selected_classes_counter, self.deletion_generator)
        deleted_classes = deleted_classes.to(present.device)
        self.selected_classes_counter.index_add_(
            0, deleted_classes, torch.ones_like(deleted_classes, dtype=self.selected_classes_counter.dtype)
        )
        keep = present & (torch.arange(k, device=present.device).unsqueeze(0) != deleted_classes.unsqueeze(1))
        with self._bn_stats_guard():
            id_context = self._relation_refine(state.features_with_memory, state.pooled, state.labels, keep)
            with torch.random.fork_rng(devices=_cuda_devices(state.features.device)):
                _set_rng_state(state.features.device, state.dropout_rng_state)
                intervened = self._stage2(state.features, id_context, state.fused_context)

        if anchor_losses is None:
            anchor_losses = upsampled_cross_entropy(state.stage2_logits.detach(), safe_targets,
                                                    align_corners=self.align_corners, reduction="none")
        intervened_losses = upsampled_cross_entropy(intervened, safe_targets, align_corners=self.align_corners,
                                                    reduction="none")
        stats = [ops.per_class_loss_stats(losses, safe_targets, valid, k) for losses in (anchor_losses, intervened_losses)]
        (count, mean_anchor, var_anchor), (_, mean_deleted, var_deleted) = stats
        m = self.relation_momentum
        ops.sequential_ema_(self.class_relations_mean, deleted_classes, mean_deleted - mean_anchor, count > 0, m)
        ops.sequential_ema_(self.class_relations_var, deleted_classes, var_deleted - var_anchor, count > 1, m)
        _all_reduce_mean_(self.class_relations_mean, self.class_relations_var, self.selected_classes_counter)
        return deleted_classes

    @contextlib.contextmanager
    def _bn_stats_guard(self) -> Iterator[None]:
        """Optionally keep the intervened pass from updating BatchNorm running statistics.

        The reference lets it update them a second time per step (the default here too, for parity).
        """
        if self.intervention_updates_bn_stats:
            yield
            return
        norms = [m for mod in (self.idcontext_refiner, self.decoder_stage2) for m in mod.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [{n: t.clone() for n, t in m.named_buffers(recurse=False)} for m in norms]
        try:
            yield
        finally:
            for m, buffers in zip(norms, saved):
                for n, t in buffers.items():
                    getattr(m, n).copy_(t)


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []


def _rng_state(device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


def _set_rng_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


def _all_reduce_mean_(*tensors: torch.Tensor) -> None:
    if not is_distributed():
        return
    world = dist.get_world_size()
    for t in tensors:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t.div_(world)
