"""Training: optax training with orbax checkpoints, and frequency-tagging loss terms."""

from ssvepjax.training.losses import TERMS as TERMS
from ssvepjax.training.losses import linen_apply as linen_apply
from ssvepjax.training.losses import spectral_loss as spectral_loss
from ssvepjax.training.losses import tag_measures as tag_measures
from ssvepjax.training.regularized import TRAINING_TAGS as TRAINING_TAGS
from ssvepjax.training.regularized import Regularizer as Regularizer
from ssvepjax.training.regularized import held_out_measures as held_out_measures
from ssvepjax.training.regularized import part_corruption_accuracy as part_corruption_accuracy
from ssvepjax.training.regularized import regularizer as regularizer
from ssvepjax.training.regularized import train_regularized as train_regularized
from ssvepjax.training.train import TrainConfig as TrainConfig
from ssvepjax.training.train import TrainedModel as TrainedModel
from ssvepjax.training.train import make_steps as make_steps
from ssvepjax.training.train import optimizer as optimizer
from ssvepjax.training.train import train_or_load as train_or_load

__all__ = ["TERMS", "TRAINING_TAGS", "held_out_measures", "linen_apply", "make_steps", "optimizer",
    "part_corruption_accuracy", "Regularizer", "regularizer", "spectral_loss", "tag_measures", "train_or_load",
    "train_regularized", "TrainConfig", "TrainedModel"]
