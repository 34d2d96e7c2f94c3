"""Figures of the benchmarks: time and peak memory of the probe and of the forward pass it is compared with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ssvepjax.report.plots.common import plt, save_figure


def plot_large_probing(rows: list[dict], path: str, *, kinds: Sequence[str], labels: Mapping[str, str],
                       memory_limit_gb: float) -> str:
    """Time (median, bars min-max) and peak resident memory against image side, one line per model and contender.

    Args:
        rows: ``{model, size, kind, status, median_s, min_s, max_s, peak_rss_gb, peak_rss_seen_gb}``
            (``experiments.benchmark_large``); a contender killed or out of memory is marked at the peak seen.
        path: PNG to write.
        kinds: the contenders in the order of their markers.
        labels: ``{kind: legend text}``.
        memory_limit_gb: the guard's limit (a dashed line).
    """
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for model_name in sorted({r["model"] for r in rows}):
        for kind, marker in zip(kinds, "oDs^v*<>phH"):
            rs = sorted((r for r in rows if r["model"] == model_name and r["kind"] == kind), key=lambda r: r["size"])
            ok = [r for r in rs if r["status"] == "ok" and "median_s" in r]
            if ok:
                ax_t.errorbar([r["size"] for r in ok], [r["median_s"] for r in ok],
                              yerr=[[r["median_s"] - r["min_s"] for r in ok], [r["max_s"] - r["median_s"] for r in ok]],
                              marker=marker, capsize=3, label=f"{model_name}: {labels[kind]}")
            mem = [(r["size"], r.get("peak_rss_gb") or r.get("peak_rss_seen_gb")) for r in rs]
            mem = [m for m in mem if m[1]]
            if mem:
                ax_m.plot(*zip(*mem), marker=marker, label=f"{model_name}: {labels[kind]}")
            for r in rs:
                if r["status"] in ("killed", "out_of_memory"):
                    ax_m.annotate(r["status"].replace("_", " "), (r["size"], r["peak_rss_seen_gb"]),
                                  textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax_m.axhline(memory_limit_gb, color="grey", ls="--", lw=1, label="memory limit")
    ax_t.set(xlabel="image side (pixels)", ylabel="time per image (s, median; bars: min-max)", yscale="log",
             title="Time")
    ax_m.set(xlabel="image side (pixels)", ylabel="peak resident memory (GB)", title="Memory (fresh process each)")
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3)
    ax_m.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)
