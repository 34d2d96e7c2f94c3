"""Figures that check the measures themselves: their invariance across recording length and injected noise, and
float32 rounding against the detection limit."""

from __future__ import annotations

import numpy as np

from ssvepjax.report.plots.common import plt, save_figure

__all__ = ["plot_detection_limit", "plot_invariance"]


def plot_invariance(layers: list[str], clean: dict[str, dict], noisy: dict[str, dict], path: str) -> str:
    """Three panels over ``layers``: units with any intermodulation (z rule per T, amplitude test), the share of AC
    power at intermodulation per T, and the z rule's false-positive rate under injected noise.

    Args:
        layers: layer names (post-activation), the x axis.
        clean: ``{T: {layer: summary}}`` without noise (``experiments.invariance.summarise``).
        noisy: ``{"T/level": {layer: summary}}`` with injected noise.
    """
    short = [x.removesuffix("/post") for x in layers]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    x = np.arange(len(layers))
    width = 0.8 / len(clean)
    for i, (t, c) in enumerate(clean.items()):
        offset = x + (i - (len(clean) - 1) / 2) * width
        axes[0].bar(offset, [c[n]["z_rule"]["any_intermodulation"] for n in layers], width, label=f"z rule, T = {t}",
                    color=plt.get_cmap("Reds")(0.35 + 0.3 * i))
        axes[0].plot(offset, [c[n]["rule"]["any_intermodulation"] for n in layers], "k_", ms=14, mew=2,
                     label="amplitude test (every T)" if i == 0 else None)
    axes[0].set_title("Noise-free: units with any\nintermodulation response", fontsize=10)
    axes[0].set_ylabel("fraction of the layer's units")
    for i, (t, c) in enumerate(clean.items()):
        axes[1].plot(x, [c[n]["share_intermodulation"] for n in layers], marker="o", ls="-" if i == 0 else "--",
                     label=f"T = {t}")
    axes[1].set_yscale("log")
    axes[1].set_title("Noise-free: share of AC power at intermodulation\n(mean over units; the lines for every T "
                      "coincide)", fontsize=10)
    axes[1].set_ylabel("share of AC power")
    for key, v in noisy.items():
        axes[2].plot(x, [v[n]["z_rule"]["false_positive_rate"] for n in layers], marker="o",
                     label=f"T = {key.split('/')[0]}, noise sd {key.split('/')[1]}")
    axes[2].axhline(0.05, color="0.3", ls=":", label="nominal 5 %")
    axes[2].set_ylim(0, max(0.15, axes[2].get_ylim()[1]))
    axes[2].set_title("Injected noise: z rule at off-lattice\nbins (false positives)", fontsize=10)
    axes[2].set_ylabel("fraction of units with z > 1.64")
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(short, rotation=20, fontsize=8)
        ax.set_xlabel("layer (post-activation)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("The same network and stimulus period, recorded for different lengths and with injected noise",
                 fontsize=11)
    return save_figure(fig, path)


def plot_detection_limit(conditions: dict[str, tuple[np.ndarray, np.ndarray]], path: str) -> str:
    """One panel per network: histograms of float64 amplitudes and of float32 rounding errors.

    Args:
        conditions: ``{network: (float64 relative amplitudes, |float32 - float64| relative errors)}`` over
            (unit, bin) pairs, both relative to each unit's AC amplitude (two networks: two panels).
    """
    fig, axes = plt.subplots(1, len(conditions), figsize=(5.5 * len(conditions), 4), squeeze=False)
    axes = axes[0]
    bins = np.logspace(-12, 0, 61)
    for ax, (name, (rel64, err)) in zip(axes, conditions.items()):
        ax.hist(np.clip(rel64[np.isfinite(rel64)], 1e-12, 1), bins=bins, alpha=0.6, label="float64 amplitude")
        ax.hist(np.clip(np.ravel(err), 1e-12, 1), bins=bins, alpha=0.6, label="|float32 - float64|")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("relative to the unit's AC amplitude")
        ax.set_ylabel("(unit, bin) pairs")
        ax.set_title(f"{name} network", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Amplitudes and float32 rounding at every bin of one stimulus period", fontsize=10)
    return save_figure(fig, path)
