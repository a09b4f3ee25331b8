"""IDRNet as a drop-in module for existing segmentation models (SMP, torchvision, your own)."""

from .attach import AttachConfig, AttachedModel, IDRNetClassifier, attach
from .external import ExternalModelConfig, SMPModelConfig, TorchvisionModelConfig, build_external
from .wrapped import WrappedModel

__all__ = ["AttachConfig", "AttachedModel", "ExternalModelConfig", "IDRNetClassifier", "SMPModelConfig",
           "TorchvisionModelConfig", "WrappedModel", "attach", "build_external"]
