"""Training: optax training with orbax checkpoints, and frequency-tagging loss terms."""

from ssvepjax.training.losses import TERMS as TERMS
from ssvepjax.training.losses import linen_apply as linen_apply
from ssvepjax.training.losses import spectral_loss as spectral_loss
from ssvepjax.training.losses import tag_measures as tag_measures
from ssvepjax.training.train import TrainConfig as TrainConfig
from ssvepjax.training.train import TrainedModel as TrainedModel
from ssvepjax.training.train import train_or_load as train_or_load
