"""Training: optax training with orbax checkpoints, and frequency-tagging loss terms."""

from ssvepjax.training.regularizers import component_power_fraction as component_power_fraction
from ssvepjax.training.regularizers import tag_regularizer as tag_regularizer
from ssvepjax.training.train import TrainConfig as TrainConfig
from ssvepjax.training.train import TrainedModel as TrainedModel
from ssvepjax.training.train import train_or_load as train_or_load
