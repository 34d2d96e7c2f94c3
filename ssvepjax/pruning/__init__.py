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

from ssvepjax.pruning.costs import compare_forward_times as compare_forward_times
from ssvepjax.pruning.costs import cost_report as cost_report
from ssvepjax.pruning.costs import flops as flops
from ssvepjax.pruning.costs import forward_time as forward_time
from ssvepjax.pruning.dependency import DependencyGraph as DependencyGraph
from ssvepjax.pruning.dependency import PrunedModel as PrunedModel
from ssvepjax.pruning.dependency import program_costs as program_costs
from ssvepjax.pruning.dependency import program_macs as program_macs
from ssvepjax.pruning.dependency import trace as trace
from ssvepjax.pruning.retraining import FinetuneConfig as FinetuneConfig
from ssvepjax.pruning.retraining import accuracy as accuracy
from ssvepjax.pruning.retraining import finetune as finetune
from ssvepjax.pruning.retraining import predictions as predictions
from ssvepjax.pruning.retraining import recalibrate_bn as recalibrate_bn
from ssvepjax.pruning.structure import Group as Group
from ssvepjax.pruning.structure import apply_masks as apply_masks
from ssvepjax.pruning.structure import channel_groups as channel_groups
from ssvepjax.pruning.structure import group_scores as group_scores
from ssvepjax.pruning.structure import keep_masks as keep_masks
from ssvepjax.pruning.structure import prune as prune
from ssvepjax.pruning.structure import removed_filters as removed_filters
from ssvepjax.pruning.structure import topology as topology

__all__ = ["accuracy", "apply_masks", "channel_groups", "compare_forward_times", "cost_report", "DependencyGraph",
    "finetune", "FinetuneConfig", "flops", "forward_time", "Group", "group_scores", "keep_masks", "predictions",
    "program_costs", "program_macs", "prune", "PrunedModel", "recalibrate_bn", "removed_filters", "topology",
    "trace"]
