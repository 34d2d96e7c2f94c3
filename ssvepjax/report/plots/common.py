"""What every figure shares: the Agg backend, atomic PNG files, short layer names for tick labels."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["save_figure", "short_layer_name"]


def save_figure(fig, path: str) -> str:
    """Write ``fig`` to ``path`` as PNG through a temporary file, then close it."""
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def short_layer_name(name: str) -> str:
    """``"stage2_block3/conv1/post"`` -> ``"s2.b3.c1"``; ``"stem/post"`` -> ``"stem"`` (tick labels)."""
    out = []
    for p in name.removesuffix("/post").removesuffix("/pre").split("/"):
        if p.startswith("stage") and "_block" in p:
            st, bl = p.removeprefix("stage").split("_block")
            out.append(f"s{st}.b{bl}")
        elif p.startswith("conv"):
            out.append("c" + p.removeprefix("conv"))
        else:
            out.append(p)
    return ".".join(out)
