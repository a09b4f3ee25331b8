"""Parameter counting comparable with the official numbers."""

from __future__ import annotations

import torch.nn as nn

# The reference stores IDRNet's statistics as non-trainable nn.Parameters, so its published totals
# include them; here they are buffers.
STATISTIC_BUFFERS = ("class_relations_mean", "class_relations_var", "selected_classes_counter", "dl_cls_representations")


def count_parameters(model: nn.Module, include_statistics: bool = True) -> int:
    """Number of parameters; with ``include_statistics`` IDRNet's four statistic tensors count too,
    as in the official parameter totals."""
    total = sum(p.numel() for p in model.parameters())
    if include_statistics:
        total += sum(b.numel() for n, b in model.named_buffers() if n.rsplit(".", 1)[-1] in STATISTIC_BUFFERS)
    return total
