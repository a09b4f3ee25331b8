"""Models: backbones, heads, the segmentor, the zoo and checkpoint I/O."""

from .build import build_model
from .config import AuxiliaryConfig, BackboneConfig, HeadConfig, InferenceConfig, ModelConfig
from .segmentor import Segmentor, TrainOutputs
from .zoo import MODEL_ZOO, ZooEntry, get_entry, list_models

__all__ = [
    "AuxiliaryConfig", "BackboneConfig", "HeadConfig", "InferenceConfig", "MODEL_ZOO", "ModelConfig",
    "Segmentor", "TrainOutputs", "ZooEntry", "build_model", "get_entry", "list_models",
]
