"""Tagging: tag frequencies, image parts, tagged frames, the spectral components of a design, and design proposals."""

from ssvepjax.tagging.frames import apply_gains as apply_gains
from ssvepjax.tagging.frames import check_image as check_image
from ssvepjax.tagging.frames import tag_batch as tag_batch
from ssvepjax.tagging.frames import tag_frames as tag_frames
from ssvepjax.tagging.frequency_components import FUNDAMENTAL as FUNDAMENTAL
from ssvepjax.tagging.frequency_components import HARMONIC as HARMONIC
from ssvepjax.tagging.frequency_components import INTERMODULATION as INTERMODULATION
from ssvepjax.tagging.frequency_components import KINDS as KINDS
from ssvepjax.tagging.frequency_components import Component as Component
from ssvepjax.tagging.frequency_components import component_bins as component_bins
from ssvepjax.tagging.frequency_components import component_label as component_label
from ssvepjax.tagging.frequency_components import components as components
from ssvepjax.tagging.frequency_components import lattice_step as lattice_step
from ssvepjax.tagging.frequency_components import noise_bins as noise_bins
from ssvepjax.tagging.frequency_components import unique_bins as unique_bins
from ssvepjax.tagging.masks import check_masks as check_masks
from ssvepjax.tagging.masks import default_parts as default_parts
from ssvepjax.tagging.masks import grid as grid
from ssvepjax.tagging.masks import halves as halves
from ssvepjax.tagging.masks import part_names as part_names
from ssvepjax.tagging.masks import quadrants as quadrants
from ssvepjax.tagging.masks import stripes as stripes
from ssvepjax.tagging.proposals import Collision as Collision
from ssvepjax.tagging.proposals import Proposal as Proposal
from ssvepjax.tagging.proposals import collisions as collisions
from ssvepjax.tagging.proposals import propose_design as propose_design
from ssvepjax.tagging.tags import TagConfig as TagConfig
from ssvepjax.tagging.tags import gains as gains
from ssvepjax.tagging.tags import validate_tags as validate_tags

__all__ = ["FUNDAMENTAL", "HARMONIC", "INTERMODULATION", "KINDS", "apply_gains", "check_image", "check_masks",
    "Collision", "collisions", "Component", "component_bins", "component_label", "components", "default_parts",
    "gains", "grid", "halves", "lattice_step", "noise_bins", "part_names", "Proposal", "propose_design", "quadrants",
    "stripes", "tag_batch", "tag_frames", "TagConfig", "unique_bins", "validate_tags"]
