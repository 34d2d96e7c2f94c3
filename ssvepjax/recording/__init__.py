"""Recording: per-frame functions for Flax models and the vmapped probe over frames."""

from ssvepjax.recording.adapters import flat_dict as flat_dict
from ssvepjax.recording.adapters import flatten_intermediates as flatten_intermediates
from ssvepjax.recording.adapters import linen_fn as linen_fn
from ssvepjax.recording.adapters import nnx_fn as nnx_fn
from ssvepjax.recording.adapters import select as select
from ssvepjax.recording.probing import probe as probe
from ssvepjax.recording.probing import recorder as recorder

__all__ = ["flat_dict", "flatten_intermediates", "linen_fn", "nnx_fn", "probe", "recorder", "select"]
