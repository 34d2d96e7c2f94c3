"""Filter and unit scores: every importance score in one place, behind one entry point (``importance``).

Both applications read scores from here: ``pruning`` removes the lowest, ``explain`` keeps the highest for a
class-activation map. One concept per module:

- ``weights``: data-free scores (random, L1 kernel norm, batch-norm scale) and the layers they score;
- ``activity``: scores from activations over images (mean activation, HRank, Taylor) as reductions of the one
  image loop (``streaming.reduce_dataset``), averaged over images or one row per image;
- ``tags``: the tag score (a filter's amplitude or BCA+ at the components of a tagging design), the one place
  that calls the spectral measures;
- ``decision``: the decision score (how much a filter carries the tags into the target's logit);
- ``registry``: every score by name, what it needs, and ``importance(method, model, variables, images, ...)``.
"""

from ssvepjax.scores.activity import combine as combine
from ssvepjax.scores.activity import frame_activations as frame_activations
from ssvepjax.scores.activity import hrank_reduction as hrank_reduction
from ssvepjax.scores.activity import layer_output_fn as layer_output_fn
from ssvepjax.scores.activity import mean_activation_reduction as mean_activation_reduction
from ssvepjax.scores.activity import sown_activations as sown_activations
from ssvepjax.scores.activity import taylor_reduction as taylor_reduction
from ssvepjax.scores.decision import decision_scores as decision_scores
from ssvepjax.scores.registry import AMPLITUDE_METHODS as AMPLITUDE_METHODS
from ssvepjax.scores.registry import BASELINES as BASELINES
from ssvepjax.scores.registry import SCORES as SCORES
from ssvepjax.scores.registry import SITES as SITES
from ssvepjax.scores.registry import TAG_METHODS as TAG_METHODS
from ssvepjax.scores.registry import Score as Score
from ssvepjax.scores.registry import importance as importance
from ssvepjax.scores.registry import methods as methods
from ssvepjax.scores.registry import score_info as score_info
from ssvepjax.scores.tags import BASE_KINDS as BASE_KINDS
from ssvepjax.scores.tags import TAG_MEASURES as TAG_MEASURES
from ssvepjax.scores.tags import component_rows as component_rows
from ssvepjax.scores.tags import component_values as component_values
from ssvepjax.scores.tags import sum_rows as sum_rows
from ssvepjax.scores.tags import tag_kinds as tag_kinds
from ssvepjax.scores.tags import tag_scores as tag_scores
from ssvepjax.scores.weights import bn_affine as bn_affine
from ssvepjax.scores.weights import bn_scale_scores as bn_scale_scores
from ssvepjax.scores.weights import conv_layers as conv_layers
from ssvepjax.scores.weights import l1_scores as l1_scores
from ssvepjax.scores.weights import layer_kernel as layer_kernel
from ssvepjax.scores.weights import layer_sizes as layer_sizes
from ssvepjax.scores.weights import random_scores as random_scores
from ssvepjax.scores.weights import with_bn_affine as with_bn_affine

__all__ = ["AMPLITUDE_METHODS", "BASE_KINDS", "BASELINES", "SCORES", "SITES", "TAG_MEASURES", "TAG_METHODS",
    "bn_affine", "bn_scale_scores", "combine", "component_rows", "component_values", "conv_layers",
    "decision_scores", "frame_activations", "hrank_reduction", "importance", "l1_scores", "layer_kernel",
    "layer_output_fn", "layer_sizes", "mean_activation_reduction", "methods", "random_scores", "Score", "score_info",
    "sown_activations", "sum_rows", "tag_kinds", "tag_scores", "taylor_reduction", "with_bn_affine"]
