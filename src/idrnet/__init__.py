"""idrnet: IDRNet (NeurIPS 2023) semantic segmentation, compatible with the official checkpoints."""

from .apis.create import create_model
from .apis.segmenter import Segmenter
from .engine.losses import training_loss, training_losses
from .models import MODEL_ZOO, ModelConfig, Segmentor, build_model, get_entry, list_models
from .models.checkpoint import save_checkpoint
from .models.parameters import count_parameters

__version__ = "0.1.0"

__all__ = [
    "MODEL_ZOO", "ModelConfig", "Segmenter", "Segmentor", "build_model", "count_parameters", "create_model", "get_entry",
    "list_models", "save_checkpoint", "training_loss", "training_losses",
]
