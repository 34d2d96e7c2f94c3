"""Tables for terminals and READMEs: a markdown table of per-layer summaries and the main job's summary."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def markdown_table(summaries: dict[str, dict], columns: Sequence[tuple[str, str]], *, digits: int = 2) -> str:
    """A markdown table with one row per layer; ``columns`` are ``(header, key path)`` pairs.

    A key path is dot-separated (``"harmonic_order.2"``, ``"snr.f1.median"``); missing or None values
    print as ``-``, infinite ones as ``inf``.
    """
    def get(d, path):
        for k in path.split("."):
            if not isinstance(d, dict):
                return None
            d = d.get(k, d.get(int(k)) if k.isdigit() else None)
        return d

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, str):
            return v
        if isinstance(v, float) and np.isinf(v):
            return "inf"
        if isinstance(v, float) and np.isnan(v):
            return "-"
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| layer | " + " | ".join(h for h, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | " + " | ".join(fmt(get(s, k)) for _, k in columns) + " |")
    return "\n".join(lines)


def summary_table(report: dict) -> str:
    """A short plain-text table of the report for the terminal: one column per tag (any number of tags)."""
    posts = {n.removesuffix("/post"): s for n, s in report["layers"].items() if n.endswith("/post")}
    first = next(iter(posts.values()), {})
    tags = [k for k in first if k[:1] == "f" and k[1:].isdigit()]
    keys = [*tags, "mean_harmonic", "mean_intermodulation", "any_intermodulation", "false_positive_rate"]
    rows = [("layer", "units", *tags, "harm", "IM", "IM any", "FP")]
    for name, s in posts.items():
        rows.append((name, str(s["n_units"]), *("-" if np.isnan(s[k]) else f"{s[k]:.2f}" for k in keys)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(wd) if i == 0 else c.rjust(wd) for i, (c, wd) in enumerate(zip(r, widths)))
             for r in rows]
    return "\n".join(lines)


__all__ = ["markdown_table", "summary_table"]
