"""Models, preprocessing and the one loader. ``from models import load_classifier``."""

from models.checkpoint import CheckpointError
from models.loader import load_classifier

__all__ = ["CheckpointError", "load_classifier"]
