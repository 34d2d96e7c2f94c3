"""Explanations: class-activation maps restricted to selected filters, and how well they localise.

- ``cams``: Grad-CAM, Grad-CAM++, LayerCAM and EigenCAM from a layer's activations and class-score
  gradients (:func:`cam`), taps on any Linen or NNX submodule output (:func:`linen_tap`,
  :func:`nnx_tap`), jitted and vmapped batches (:func:`layer_gradients`, :func:`cam_batch`,
  :func:`class_activation_maps`), each restricted to a subset of filters with ``filters=``.
- ``selection``: top-k / top-fraction masks of per-filter scores (``ssvepjax.scores``: the tag score at
  fundamental, harmonic or intermodulation bins; random, L1 and mean-activation baselines).
- ``attribution``: tag attribution of a decision to the image's parts from the output's spectrum
  (:func:`tag_attribution`), and ``part_baselines``: occlusion, exact Shapley values, integrated gradients
  and gradient x input summed over the parts, with their costs (:func:`part_attributions`).
- ``box_evaluation``: the follow-up paper's measurement on images with boxes: every selector's scores
  (:func:`selection_scores`), each image's CAM metrics per method, selector and k
  (:func:`evaluate_selections`), and means with paired differences from random and their verdicts
  (:func:`summarize_selections`, by ``stats.verdicts``' rule).
- ``metrics``: energy inside the object box, energy concentration, localisation (IoU of the largest
  thresholded region) and deletion / insertion AUC.
"""

from ssvepjax.explain.attribution import PartAttribution as PartAttribution
from ssvepjax.explain.attribution import attribution_tags as attribution_tags
from ssvepjax.explain.attribution import check_tag_collisions as check_tag_collisions
from ssvepjax.explain.attribution import default_max_order as default_max_order
from ssvepjax.explain.attribution import tag_attribution as tag_attribution
from ssvepjax.explain.box_evaluation import TAG_SELECTORS as TAG_SELECTORS
from ssvepjax.explain.box_evaluation import evaluate_selections as evaluate_selections
from ssvepjax.explain.box_evaluation import selection_scores as selection_scores
from ssvepjax.explain.box_evaluation import summarize as summarize_selections
from ssvepjax.explain.cams import METHODS as METHODS
from ssvepjax.explain.cams import LayerTap as LayerTap
from ssvepjax.explain.cams import cam as cam
from ssvepjax.explain.cams import cam_batch as cam_batch
from ssvepjax.explain.cams import class_activation_maps as class_activation_maps
from ssvepjax.explain.cams import layer_gradients as layer_gradients
from ssvepjax.explain.cams import linen_tap as linen_tap
from ssvepjax.explain.cams import nnx_tap as nnx_tap
from ssvepjax.explain.cams import upsample as upsample
from ssvepjax.explain.metrics import box_iou as box_iou
from ssvepjax.explain.metrics import box_masks as box_masks
from ssvepjax.explain.metrics import deletion_insertion as deletion_insertion
from ssvepjax.explain.metrics import energy_concentration as energy_concentration
from ssvepjax.explain.metrics import energy_in_box as energy_in_box
from ssvepjax.explain.metrics import localisation as localisation
from ssvepjax.explain.part_baselines import PART_METHODS as PART_METHODS
from ssvepjax.explain.part_baselines import gradient_x_input as gradient_x_input
from ssvepjax.explain.part_baselines import integrated_gradients as integrated_gradients
from ssvepjax.explain.part_baselines import occlusion as occlusion
from ssvepjax.explain.part_baselines import part_attributions as part_attributions
from ssvepjax.explain.part_baselines import shapley as shapley
from ssvepjax.explain.selection import top_fraction as top_fraction
from ssvepjax.explain.selection import top_k as top_k

__all__ = ["METHODS", "PART_METHODS", "TAG_SELECTORS", "attribution_tags", "box_iou", "box_masks", "cam",
    "cam_batch", "check_tag_collisions", "class_activation_maps", "default_max_order", "deletion_insertion",
    "energy_concentration", "energy_in_box", "evaluate_selections", "gradient_x_input", "integrated_gradients",
    "layer_gradients", "LayerTap", "linen_tap", "localisation", "nnx_tap", "occlusion", "part_attributions",
    "PartAttribution", "selection_scores", "shapley", "summarize_selections", "tag_attribution", "top_fraction",
    "top_k", "upsample"]
