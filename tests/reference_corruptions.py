"""The ``imagecorruptions`` package (1.1.2), the reference our corruptions are tested and timed against,
made importable on this stack: a stand-in for the one ``pkg_resources`` function it calls (setuptools no
longer ships that module), and its two calls that current libraries refuse mapped to today's names."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from types import ModuleType

import numpy as np


def load_imagecorruptions() -> ModuleType:
    """The package, patched; ImportError when it is not installed. Sets ``np.float_`` (removed in
    NumPy 2, asked for by ``fog``): a caller that must leave NumPy as it was deletes it afterwards."""
    if "pkg_resources" not in sys.modules:
        stand_in = types.ModuleType("pkg_resources")
        stand_in.resource_filename = lambda pkg, name: os.path.join(
            os.path.dirname(importlib.util.find_spec(pkg).origin), name)
        sys.modules["pkg_resources"] = stand_in
    import imagecorruptions
    import imagecorruptions.corruptions as definitions
    import skimage.filters

    def gaussian(image, sigma, multichannel=None, **kw):  # the argument scikit-image 0.19 renamed
        return skimage.filters.gaussian(image, sigma=sigma, channel_axis=-1 if multichannel else None, **kw)

    definitions.gaussian = gaussian
    np.float_ = np.float64
    return imagecorruptions
