"""Vectorised tensor operations behind IDRNet's semantic grouping and deletion diagnostics.

Every function here works on whole batches with masks: no Python loop over classes, images or
pixels, and no data-dependent control flow on the inference path (so the model can be traced,
compiled and exported).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_masks(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot masks ``(B, K, N)`` of flattened pseudo-labels ``labels`` ``(B, N)``."""
    classes = torch.arange(num_classes, device=labels.device).view(1, num_classes, 1)
    return labels.unsqueeze(1) == classes


def pool_classes(features: torch.Tensor, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Semantic-level representation of every class: softmax-weighted pooling over its pixels.

    ``features`` ``(B, C, N)``, ``logits`` ``(B, K, N)``, ``masks`` ``(B, K, N)``. Within class k's
    pseudo-mask, pixel weights are a softmax of the class's own logit. Classes absent from an image get
    a zero vector. Returns ``(B, K, C)``.
    """
    masked = logits.masked_fill(~masks, float("-inf"))
    peak = masked.amax(dim=2, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    weights = torch.exp(masked - peak)
    # Each sum is 0 (absent class) or at least 1 (its peak pixel gives exp(0)): divide absent ones by 1.
    total = weights.sum(dim=2, keepdim=True)
    weights = weights / torch.where(total > 0, total, torch.ones_like(total))
    return torch.bmm(weights, features.transpose(1, 2))


def relation_weights(relations: torch.Tensor, present: torch.Tensor, remove_negative: bool) -> torch.Tensor:
    """Row-softmax of the relation matrix over the classes present in each image.

    ``relations`` ``(K, K)``, row = receiving class, column = source class; ``present`` ``(B, K)``.
    Returns ``(B, K, K)`` in float32; columns of absent classes get exactly zero weight.
    """
    rel = relations.float()
    if remove_negative:
        # The reference pushes non-positive relations to -1e16 so the softmax gives them no weight.
        rel = torch.where(rel <= 0, torch.full_like(rel, -1e16), rel)
    rel = rel.unsqueeze(0).expand(present.shape[0], -1, -1)
    # Literals, not module constants or torch.finfo: TorchScript can use neither. The lowest float32.
    rel = rel.masked_fill(~present.unsqueeze(1), -3.4028234663852886e38)
    return torch.softmax(rel, dim=2) * present.unsqueeze(1)


def relation_context(
    pooled: torch.Tensor,
    class_memory: torch.Tensor,
    relations: torch.Tensor,
    present: torch.Tensor,
    labels: torch.Tensor,
    remove_negative: bool,
) -> torch.Tensor:
    """Relation-guided class context scattered back to pixels.

    ``pooled`` ``(B, K, C)`` pooled pixel features, ``class_memory`` ``(K, C)`` dataset-level class
    representations, ``present`` ``(B, K)`` the classes that take part (a deleted class is absent),
    ``labels`` ``(B, N)`` pseudo-labels. Each present class k receives ``Σ_j A[k, j]·[pooled_j; D_j]``;
    pixels of classes that are not present receive zeros. Returns ``(B, 2C, N)``.
    """
    b, k, c = pooled.shape
    sources = torch.cat([pooled, class_memory.to(pooled.dtype).unsqueeze(0).expand(b, -1, -1)], dim=2)
    weights = relation_weights(relations, present, remove_negative)
    enhanced = torch.bmm(weights, sources.float()).to(pooled.dtype)
    per_pixel = enhanced.gather(1, labels.unsqueeze(2).expand(-1, -1, 2 * c))
    keep = present.gather(1, labels).unsqueeze(2).to(per_pixel.dtype)
    return (per_pixel * keep).transpose(1, 2)


def sample_deletions(
    present: torch.Tensor, counter: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One class to delete per image, drawn among ``present`` with probability ∝ 1 / ``counter``.

    All images draw from the counters as they stand at the start of the step (one batched draw).
    """
    weights = present.float() / counter.float().unsqueeze(0)
    if generator is not None and generator.device != weights.device:
        return torch.multinomial(weights.to(generator.device), 1, generator=generator).squeeze(1).to(present.device)
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)


def per_class_loss_stats(
    losses: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image, per-class mean and biased variance of per-pixel ``losses`` ``(B, H, W)``.

    Pixels where ``valid`` is false are left out. Returns ``(count, mean, var)``, each ``(B, K)``;
    computed in float64 with a two-pass variance so small differences of means stay exact.
    """
    b = losses.shape[0]
    index = (torch.arange(b, device=targets.device).view(b, 1, 1) * num_classes + targets)[valid]
    values = losses[valid].double()
    size = b * num_classes
    count = torch.zeros(size, dtype=torch.float64, device=losses.device).index_add_(0, index, torch.ones_like(values))
    total = torch.zeros_like(count).index_add_(0, index, values)
    mean = total / count.clamp_min(1)
    squares = torch.zeros_like(count).index_add_(0, index, (values - mean[index]) ** 2)
    var = squares / count.clamp_min(1)
    return count.view(b, num_classes), mean.view(b, num_classes), var.view(b, num_classes)


def sequential_ema_(
    matrix: torch.Tensor, rows: torch.Tensor, values: torch.Tensor, valid: torch.Tensor, momentum: float
) -> None:
    """In place: ``matrix[rows[b], j] ← momentum·values[b, j] + (1−momentum)·matrix[rows[b], j]``.

    Applied for every image b and class j with ``valid[b, j]``, with exactly the result of doing the
    updates one image after another (two images deleting the same class give two EMA steps).
    """
    b = rows.shape[0]
    order = torch.arange(b, device=rows.device)
    later_same_row = (rows.unsqueeze(1) == rows.unsqueeze(0)) & (order.unsqueeze(0) > order.unsqueeze(1))
    valid_f = valid.to(torch.float64)
    later_updates = later_same_row.to(torch.float64) @ valid_f
    decay = 1.0 - momentum
    contributions = momentum * decay**later_updates * values.to(torch.float64) * valid_f
    updates_per_cell = torch.zeros(matrix.shape, dtype=torch.float64, device=matrix.device).index_add_(0, rows, valid_f)
    summed = torch.zeros_like(updates_per_cell).index_add_(0, rows, contributions)
    new = decay**updates_per_cell * matrix.to(torch.float64) + summed
    matrix.copy_(new.to(matrix.dtype))


def _bilinear_taps(size_in: int, size_out: int, align_corners: bool, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The two source indices and weights of every output position of 1-D bilinear resizing.

    Derived by resizing a one-hot basis with :func:`torch.nn.functional.interpolate`, so the weights are
    exactly PyTorch's. Returns ``(index, weight)``, each ``(size_out, 2)``.
    """
    basis = torch.eye(size_in, device=device).view(1, size_in, size_in, 1)
    matrix = F.interpolate(basis, size=(size_out, 1), mode="bilinear", align_corners=align_corners)
    matrix = matrix[0, :, :, 0].transpose(0, 1)  # (size_out, size_in)
    k = min(2, size_in)
    weight, index = matrix.topk(k, dim=1)
    if k == 1:
        weight = torch.cat([weight, torch.zeros_like(weight)], dim=1)
        index = torch.cat([index, index], dim=1)
    return index, weight


def upsampled_class_sums(
    features: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, num_classes: int, align_corners: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums of ``features`` bilinearly upsampled to the targets' size, without upsampling.

    Upsampling is linear, so Σ_{p: y_p = c} up(f)_p = Σ_q G[c, q] f_q where G spreads each target pixel
    over its four bilinear source taps. Memory is ``B·K·h·w`` instead of ``B·C·H·W``.
    ``features`` ``(B, C, h, w)``, ``targets`` ``(B, H, W)``. Returns ``(sums (K, C), counts (K,))``.
    """
    b, c, h, w = features.shape
    big_h, big_w = targets.shape[1:]
    dev = features.device
    rows, row_w = _bilinear_taps(h, big_h, align_corners, dev)
    cols, col_w = _bilinear_taps(w, big_w, align_corners, dev)
    batch = torch.arange(b, device=dev).view(b, 1, 1).expand(b, big_h, big_w)[valid]
    cls = targets[valid]
    ys, xs = valid.nonzero(as_tuple=True)[1:]
    base = (batch * num_classes + cls) * h
    spread = torch.zeros(b * num_classes * h * w, dtype=torch.float32, device=dev)
    for ti in range(2):
        for tj in range(2):
            index = (base + rows[ys, ti]) * w + cols[xs, tj]
            spread.index_add_(0, index, row_w[ys, ti] * col_w[xs, tj])
    spread = spread.view(b, num_classes, h * w)
    sums = torch.einsum("bkn,bcn->kc", spread, features.float().flatten(2))
    counts = torch.bincount(cls, minlength=num_classes).to(torch.float32)
    return sums, counts
