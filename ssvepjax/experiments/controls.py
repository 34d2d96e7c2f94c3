"""Experiment 2: control conditions, measured exactly like the reproduction (``experiments/controls.py``).

Conditions (``analysis.controls.CONDITIONS``): the trained network; the same network untrained (random init); the
trained weights with every nonlinearity replaced by identity (an affine network: no harmonics or intermodulation
beyond the false-positive rate); only the left half modulated (no intermodulation); the tags swapped between the
halves (responses follow the part). Every condition is read at the bins of the original design, and the
false-positive rate at off-lattice bins. Each finished condition is a resumable step.

Writes ``controls.json`` and ``controls.png``.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ssvepjax.analysis.controls import CONDITIONS, control_conditions, part_following, run_condition, tag_significance
from ssvepjax.analysis.summaries import layer_summary
from ssvepjax.experiments.config import JobConfig, job_settings, load_model
from ssvepjax.experiments.store import Store
from ssvepjax.report import plots
from ssvepjax.report.tables import markdown_table

__all__ = ["Config", "condition_means", "report", "run"]

KEYS = ("f1", "f2", "mean_harmonic", "any_harmonic", "mean_intermodulation", "any_intermodulation",
        "intermodulation_order2", "false_positive_rate", "higher_order_rate")
COLUMNS = [("f1", "f1"), ("f2", "f2"), ("harm. (mean)", "mean_harmonic"), ("IM (mean)", "mean_intermodulation"),
           ("IM (any)", "any_intermodulation"), ("FP", "false_positive_rate")]
Z_KEYS = ("f1", "f2", "mean_harmonic", "mean_intermodulation", "any_intermodulation", "false_positive_rate",
          "higher_order_rate")
SHARES = ("fundamental", "harmonic", "intermodulation", "higher_order")
FOLLOWING = ("follow_part", "follow_frequency", "follow_part_exclusive", "follow_frequency_exclusive")


@dataclasses.dataclass(frozen=True)
class Config(JobConfig):
    """The job's settings and the conditions to run (``--quick``: ResNet-8, 4 images).

    Attributes:
        conditions: which controls to run, from ``analysis.controls.CONDITIONS``.
    """

    n_images: int = 32
    out: str = "runs/controls"
    conditions: tuple[str, ...] = CONDITIONS

    def __post_init__(self):
        super().__post_init__()
        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown or not self.conditions:
            raise ValueError(f"conditions must be among {', '.join(CONDITIONS)}, got {list(self.conditions)}")


def condition_means(table: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    """Per condition, each measure averaged over layers (every layer weighs the same)."""
    out = {}
    for c, layers in table.items():
        n = len(layers)
        out[c] = {k: sum(s[k] for s in layers.values()) / n for k in KEYS if k != "higher_order_rate"}
        out[c].update({f"z_{k}": sum(s["z_rule"][k] for s in layers.values()) / n for k in Z_KEYS})
        out[c].update({f"share_{k}": float(np.nanmean([s["effects"]["share"][k] for s in layers.values()]))
                       for k in SHARES})
    return out


def run(cfg: Config, store: Store) -> dict:
    """Run every condition (a resumable step each), average over layers, compare trained with swapped tags."""
    data, trained, images = load_model(cfg)
    include = cfg.model.nonlinear_layers()
    design = cfg.design
    conds = control_conditions(trained.module, trained.variables, data.image_shape, design.tags,
                               conditions=list(cfg.conditions), include=include)
    table, sig, seconds = {}, {}, {}
    for name, cond in conds.items():
        t1 = time.time()

        def step(name=name, cond=cond, t1=t1):
            results = run_condition(cond, images, design, progress=cfg.progress)
            summaries = {n: layer_summary(results[n], design, top_k=1) for n in include}
            for s in summaries.values():
                s.pop("strongest_units")
            return {"table": summaries, "seconds": round(time.time() - t1, 1),
                    "sig": tag_significance(results, design) if name in ("trained", "swapped") else None}

        key = design.key(trained.checkpoint_dir, cfg.n_images, name, include)
        done = store.step(f"{name}-{key}", step)
        table[name] = done["table"]
        if done["sig"] is not None:
            sig[name] = {k: np.asarray(v, bool) for k, v in done["sig"].items()}
        seconds[name] = done["seconds"]
        print(f"{name}: {seconds[name]} s", flush=True)
    following = part_following(sig["trained"], sig["swapped"]) if len(sig) == 2 else {}
    figure = plots.plot_conditions(
        table, str(store.path("controls.png")),
        keys=(("f1", "f1"), ("f2", "f2"), ("mean_harmonic", "harmonics (mean)"),
              ("mean_intermodulation", "intermodulation (mean)"), ("any_intermodulation", "any intermodulation"),
              ("false_positive_rate", "off-lattice bins (false positives)")),
        title=f"{cfg.model.label} on {data.name}, {cfg.n_images} images: units that respond per condition "
              f"({design.significance} rule, post-activation)")
    return store.write({
        "experiment": "controls",
        "settings": job_settings(cfg, data, trained),
        "conditions": {n: {"description": c.description, "freqs_hz": list(c.tags.freqs_hz),
                           "parts_modulated": int(c.masks.shape[0])} for n, c in conds.items()},
        "measured_at": "the bins of the original design (f1 = 6 Hz, f2 = 7.5 Hz labels) in every condition",
        "means_over_layers": condition_means(table),
        "part_following": following,
        "layers": table,
        "tables": {n: markdown_table(t, COLUMNS) for n, t in table.items()},
        "figures": {"controls": str(figure).rsplit("/", 1)[-1]},
        "seconds": {**seconds, "total": round(store.seconds(), 1)},
    })


def report(result: dict) -> str:
    """What the command line prints: each measure per condition, averaged over layers; part following."""
    means = result["means_over_layers"]
    lines = ["mean over layers:", markdown_table(means, [(k, k) for k in means[next(iter(means))]], digits=3)
             .replace("| layer |", "| condition |")]
    following = result["part_following"]
    if following:
        lines.append(f"part following (Jaccard, mean over layers):  {_following_means(following)}")
    return "\n".join(lines)


def _following_means(following: dict[str, dict]) -> dict[str, float]:
    """Each part-following measure averaged over the layers where it is defined (not NaN)."""
    out = {}
    for k in FOLLOWING:
        values = [v[k] for v in following.values() if v[k] == v[k]]
        out[k] = round(sum(values) / max(1, len(values)), 3)
    return out
