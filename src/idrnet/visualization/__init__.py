"""Pictures people look at: colour overlays, side-by-side galleries, relation heatmaps."""

from .overlay import colorize, overlay, side_by_side
from .relations import plot_relation_heatmap, top_helpers

__all__ = ["colorize", "overlay", "side_by_side", "plot_relation_heatmap", "top_helpers"]
