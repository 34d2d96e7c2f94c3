"""Recording: per-frame functions for Flax models and the vmapped probe over frames."""

from ssvepjax.recording.adapters import flat_dict as flat_dict
from ssvepjax.recording.adapters import flatten_intermediates as flatten_intermediates
from ssvepjax.recording.adapters import linen_fn as linen_fn
from ssvepjax.recording.adapters import nnx_fn as nnx_fn
from ssvepjax.recording.adapters import select as select
from ssvepjax.recording.probe import probe as probe
from ssvepjax.recording.probe import recorder as recorder
