"""Streaming: the one image loop (chunks, devices, hosts, checkpoints, progress) and the reductions it runs."""

from ssvepjax.streaming.budget import available_memory as available_memory
from ssvepjax.streaming.loop import probe_dataset as probe_dataset
from ssvepjax.streaming.loop import reduce_dataset as reduce_dataset
from ssvepjax.streaming.reductions import GRANULARITIES as GRANULARITIES
from ssvepjax.streaming.reductions import Reduction as Reduction
from ssvepjax.streaming.reductions import moments_reduction as moments_reduction
from ssvepjax.streaming.reductions import spectrum_reduction as spectrum_reduction
from ssvepjax.streaming.reductions import sum_merge as sum_merge
from ssvepjax.streaming.reductions import summed as summed
from ssvepjax.streaming.runtime import enable_compilation_cache as enable_compilation_cache

__all__ = ["GRANULARITIES", "available_memory", "enable_compilation_cache", "moments_reduction", "probe_dataset",
    "reduce_dataset", "Reduction", "spectrum_reduction", "sum_merge", "summed"]
