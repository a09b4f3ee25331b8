"""Pictures people look at: colour overlays with legends, side-by-side galleries, relation heatmaps."""

from .legend import legend_panel, present_classes, with_legend
from .overlay import colorize, overlay, side_by_side
from .relations import plot_relation_heatmap, top_helpers

__all__ = ["colorize", "legend_panel", "overlay", "plot_relation_heatmap", "present_classes", "side_by_side",
           "top_helpers", "with_legend"]
