"""IDRNet as a drop-in module for existing segmentation models (SMP, torchvision, your own)."""

from .attach import AttachConfig, AttachedModel, IDRNetClassifier, attach

__all__ = ["AttachConfig", "AttachedModel", "IDRNetClassifier", "attach"]
