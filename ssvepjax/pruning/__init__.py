"""Dependency-aware structured pruning of any model (traced from its program), by the scores of ``ssvepjax.scores``.

- ``dependency``: channel dependencies traced from the model's jaxpr, the smaller program, costs;
- ``structure``: coupled channel groups, keep masks with global or per-set budgets, masked and
  physically smaller networks;
- ``flops``: multiply-accumulates and measured forward time (parameters: ``models.param_count``);
- ``finetune``: short optax fine-tuning and accuracy;
- ``ground_truth``: a task whose class evidence lies in one half of the image, and part-selective pruning.

The experiments that measure what the scores are worth (``experiments/pruning_*.py``) live in
``ssvepjax.experiments.pruning_curves`` and ``ssvepjax.experiments.pruning_ground_truth``.
"""

from ssvepjax.models.random_init import param_count as param_count
from ssvepjax.pruning.dependency import DependencyGraph as DependencyGraph
from ssvepjax.pruning.dependency import PrunedModel as PrunedModel
from ssvepjax.pruning.dependency import program_costs as program_costs
from ssvepjax.pruning.dependency import program_macs as program_macs
from ssvepjax.pruning.dependency import trace as trace
from ssvepjax.pruning.finetune import FinetuneConfig as FinetuneConfig
from ssvepjax.pruning.finetune import accuracy as accuracy
from ssvepjax.pruning.finetune import finetune as finetune
from ssvepjax.pruning.finetune import predictions as predictions
from ssvepjax.pruning.finetune import recalibrate_bn as recalibrate_bn
from ssvepjax.pruning.flops import compare_forward_times as compare_forward_times
from ssvepjax.pruning.flops import cost_report as cost_report
from ssvepjax.pruning.flops import flops as flops
from ssvepjax.pruning.flops import forward_time as forward_time
from ssvepjax.pruning.structure import Group as Group
from ssvepjax.pruning.structure import apply_masks as apply_masks
from ssvepjax.pruning.structure import channel_groups as channel_groups
from ssvepjax.pruning.structure import group_scores as group_scores
from ssvepjax.pruning.structure import keep_masks as keep_masks
from ssvepjax.pruning.structure import prune as prune
from ssvepjax.pruning.structure import removed_filters as removed_filters
from ssvepjax.pruning.structure import topology as topology
from ssvepjax.scores import BASELINES as BASELINES
from ssvepjax.scores import TAG_METHODS as TAG_METHODS
from ssvepjax.scores import bn_affine as bn_affine
from ssvepjax.scores import bn_scale_scores as bn_scale_scores
from ssvepjax.scores import combine as combine
from ssvepjax.scores import conv_layers as conv_layers
from ssvepjax.scores import decision_scores as decision_scores
from ssvepjax.scores import hrank_reduction as hrank_reduction
from ssvepjax.scores import importance as importance
from ssvepjax.scores import l1_scores as l1_scores
from ssvepjax.scores import layer_output_fn as layer_output_fn
from ssvepjax.scores import mean_activation_reduction as mean_activation_reduction
from ssvepjax.scores import methods as methods
from ssvepjax.scores import random_scores as random_scores
from ssvepjax.scores import tag_kinds as tag_kinds
from ssvepjax.scores import tag_scores as tag_scores
from ssvepjax.scores import taylor_reduction as taylor_reduction
from ssvepjax.scores import with_bn_affine as with_bn_affine
