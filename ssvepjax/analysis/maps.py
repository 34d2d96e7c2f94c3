"""Per-unit maps of one layer: at each spatial position, a summary over its channels (where units respond).

:func:`significance_map` (the fraction of channels that respond), :func:`column_profile` (the same per column)
and :func:`snr_map` (the median SNR over channels) take a layer's measures with units ``[h, w, c]``, whatever
the architecture; ``report.plots.plot_maps`` draws them.
"""

from __future__ import annotations

import numpy as np

from ssvepjax.analysis.results import LayerResult
from ssvepjax.analysis.summaries import component_row, decisions
from ssvepjax.spectral.design import Design
from ssvepjax.tagging.frequency_components import INTERMODULATION, unique_bins


def significance_map(res: LayerResult, design: Design, label: str) -> np.ndarray:
    """``[*positions]`` fraction of channels that respond (the design's rule) at component ``label``, per position.

    ``label`` is a component's label, or ``"any_intermodulation"`` (a channel that responds at any
    intermodulation component of its own bin). Over the channels where the rule is defined
    (``summaries.defined_units``); NaN where none is. Units ``[h, w, c]`` give ``[h, w]``, tokens ``[t, c]`` give
    ``[t]``.
    """
    if len(res.unit_shape) < 2:
        raise ValueError(f"layer {res.name} has units {res.unit_shape}; need [*positions, c]")
    if label == "any_intermodulation":
        cb = design.bins()[0]
        rows = [int(np.flatnonzero(cb == b)[0]) for b in unique_bins(design.components, INTERMODULATION,
                                                                      include_shared=False)]
        dec = decisions(res, design)[rows]  # [k, units]: 1 / 0 / NaN
        defined = ~np.isnan(dec).all(0)
        d = np.where(defined, np.nanmax(np.where(np.isnan(dec), -1.0, dec), 0), np.nan).reshape(res.unit_shape)
    else:
        d = decisions(res, design)[component_row(design, label)].reshape(res.unit_shape)
    n = (~np.isnan(d)).sum(-1)
    return np.where(n > 0, np.nansum(d, -1) / np.maximum(n, 1), np.nan)


def column_profile(res: LayerResult, design: Design, label: str) -> np.ndarray:
    """``[w]`` fraction of units (rows x channels) of each column that respond at ``label``."""
    return significance_map(res, design, label).mean(0)


def snr_map(res: LayerResult, row: int) -> np.ndarray:
    """``[h, w]`` log10 of the median SNR over channels at component row ``row``, clipped to [-1, 3].

    Channels with undefined SNR (0/0: silent, or no noise estimate) are left out of the median; a position
    where every channel is undefined is NaN. Infinite SNR (a response with zero noise around it, as in a
    noise-free network) clips to 3.
    """
    s = np.asarray(res.neuron["snr"][row], np.float64)
    defined = ~np.isnan(s)
    filled = np.where(defined, s, np.inf)
    # The median of the defined channels: sort, undefined last, and take the middle of the defined ones.
    srt = np.sort(filled, axis=-1)
    n = defined.sum(-1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(srt, np.maximum(n // 2, 0)[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore"):
        med = np.where(n > 0, np.where(lo == hi, lo, (lo + hi) / 2), np.nan)
    with np.errstate(divide="ignore"):
        return np.clip(np.log10(med), -1, 3)


__all__ = ["column_profile", "significance_map", "snr_map"]
