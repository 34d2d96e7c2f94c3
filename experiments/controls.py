"""Experiment 2: control conditions, measured exactly like the reproduction.

Conditions (ssvepjax.CONDITIONS): the trained network; the same network untrained (random
init); the trained weights with every nonlinearity replaced by identity (an affine network: no
harmonics or intermodulation beyond the false-positive rate); only the left half modulated (no
intermodulation); the tags swapped between the halves (responses follow the part). Every condition is
read at the bins of the original design, and the false-positive rate at off-lattice bins.

    python experiments/controls.py --quick --out runs/controls_quick    # CI size, ~1 min
    python experiments/controls.py --out runs/controls                  # ResNet-32, 32 images, ~8 min on 2 cores

Writes ``controls.json`` and ``controls.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import ssvepjax as sj

KEYS = ("f1", "f2", "mean_harmonic", "any_harmonic", "mean_intermodulation", "any_intermodulation",
        "intermodulation_order2", "false_positive_rate", "higher_order_rate")
COLUMNS = [("f1", "f1"), ("f2", "f2"), ("harm. (mean)", "mean_harmonic"), ("IM (mean)", "mean_intermodulation"),
           ("IM (any)", "any_intermodulation"), ("FP", "false_positive_rate")]


Z_KEYS = ("f1", "f2", "mean_harmonic", "mean_intermodulation", "any_intermodulation", "false_positive_rate",
          "higher_order_rate")
SHARES = ("fundamental", "harmonic", "intermodulation", "higher_order")


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


def main(argv=None) -> dict:
    p = sj.job_parser(__doc__.splitlines()[0], "runs/controls")
    p.add_argument("--conditions", nargs="+", default=list(sj.CONDITIONS), help="which controls to run")
    args = p.parse_args(argv)
    cfg = sj.config_from_args(args)
    t0 = time.time()
    out = cfg.out_dir
    data, trained, images = sj.load_model(cfg)
    names = sj.conv_layer_names(cfg.model.depth)
    include = [f"{n}/post" for n in names]
    design = cfg.design
    conds = sj.control_conditions(trained.module, trained.variables, data.image_shape, design.tags,
                                        conditions=args.conditions, include=include)
    table, sig, seconds = {}, {}, {}
    for name, cond in conds.items():
        t1 = time.time()

        def step(name=name, cond=cond, t1=t1):
            results = sj.run_condition(cond, images, design, progress=cfg.progress)
            summaries = {n: sj.layer_summary(results[n], design, top_k=1) for n in include}
            for s in summaries.values():
                s.pop("strongest_units")
            return {"table": summaries, "seconds": round(time.time() - t1, 1),
                    "sig": sj.tag_significance(results, design) if name in ("trained", "swapped") else None}

        # Each finished condition is stored under steps/: a killed run resumes after the last one.
        key = design.key(trained.checkpoint_dir, cfg.n_images, name, include)
        done = sj.resumable_step(out / "steps", f"{name}-{key}", step)
        table[name] = done["table"]
        if done["sig"] is not None:
            sig[name] = {k: np.asarray(v, bool) for k, v in done["sig"].items()}
        seconds[name] = done["seconds"]
        print(f"{name}: {seconds[name]} s", flush=True)
    following = sj.part_following(sig["trained"], sig["swapped"]) if len(sig) == 2 else {}
    means = condition_means(table)
    fig = sj.plot_conditions(
        table, str(out / "controls.png"),
        keys=(("f1", "f1"), ("f2", "f2"), ("mean_harmonic", "harmonics (mean)"),
              ("mean_intermodulation", "intermodulation (mean)"), ("any_intermodulation", "any intermodulation"),
              ("false_positive_rate", "off-lattice bins (false positives)")),
        title=f"ResNet-{cfg.model.depth} on {data.name}, {cfg.n_images} images: units that respond per condition "
              f"({design.significance} rule, post-activation)")
    report = {
        "experiment": "controls",
        "settings": sj.job_settings(cfg, data, trained),
        "conditions": {n: {"description": c.description, "freqs_hz": list(c.tags.freqs_hz),
                           "parts_modulated": int(c.masks.shape[0])} for n, c in conds.items()},
        "measured_at": "the bins of the original design (f1 = 6 Hz, f2 = 7.5 Hz labels) in every condition",
        "means_over_layers": means,
        "part_following": following,
        "layers": table,
        "tables": {n: sj.markdown_table(t, COLUMNS) for n, t in table.items()},
        "figures": {"controls": Path(fig).name},
        "seconds": {**seconds, "total": round(time.time() - t0, 1)},
    }
    sj.write_json(out / "controls.json", report)
    print("mean over layers:")
    print(sj.markdown_table(means, [(k, k) for k in means[next(iter(means))]], digits=3)
          .replace("| layer |", "| condition |"))
    if following:
        print("part following (Jaccard, mean over layers): ", {
            k: round(sum(v[k] for v in following.values() if v[k] == v[k]) / max(1, sum(
                1 for v in following.values() if v[k] == v[k])), 3)
            for k in ("follow_part", "follow_frequency", "follow_part_exclusive", "follow_frequency_exclusive")})
    print(f"wrote {out}/controls.json and controls.png in {report['seconds']['total']} s")
    return report


if __name__ == "__main__":
    sj.run_script(main)
