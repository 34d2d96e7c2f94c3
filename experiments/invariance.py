"""Experiment 5: how the measures behave across recording length and injected noise (SCIENCE.md section 6).

The same trained network and the same 80-frame stimulus period (6 and 7.5 Hz at 120 frames/s) recorded for
T = 160, 240 and 480 frames, without noise (one period probed, exact) and with independent Gaussian noise
added to every pixel of every frame (every frame probed). For a few layers (post-activation) it reports:

- the default rule (amplitude test across images) and the effect sizes: they must not move with T;
- the EEG z rule on the same spectra: for a noise-free network its fractions move with T alone;
- under injected noise, the z rule's rate at off-lattice bins (a false-positive rate: no combination of the
  tags can respond there), which should sit near its nominal level.

    python experiments/invariance.py --quick --out runs/invariance_quick   # CI size
    python experiments/invariance.py --out runs/invariance                 # ResNet-32, 16 images

Writes ``invariance.json`` and ``invariance.png``.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import ssvepjax as sj

FRAMES = (160, 240, 480)
NOISE = (0.01, 0.03, 0.1)
KEYS = ("f1", "mean_harmonic", "mean_intermodulation", "any_intermodulation", "false_positive_rate")


def layers_of(depth: int) -> list[str]:
    n = (depth - 2) // 6
    return ["stem/post"] + [f"stage{s}_block{n - 1}/conv2/post" for s in (1, 2, 3)]


def summarise(results: dict, design: sj.Design) -> dict:
    out = {}
    for name, res in results.items():
        s = sj.layer_summary(res, design, top_k=0)
        out[name] = {"rule": {k: s[k] for k in KEYS}, "z_rule": {k: s["z_rule"][k] for k in KEYS},
                     "relative_f1": s["effects"]["relative"]["f1"],
                     "share_intermodulation": s["effects"]["share"]["intermodulation"],
                     "im_ratio": s["effects"]["im_ratio"]}
    return out


def main(argv=None) -> dict:
    p = sj.job_parser(__doc__.splitlines()[0], "runs/invariance", n_images=16)
    args = p.parse_args(argv)
    cfg = sj.config_from_args(args, n_images=16)
    t0 = time.time()
    out = cfg.out_dir
    data, trained, images = sj.load_model(cfg)
    masks = sj.halves(*data.image_shape[:2])
    layers = layers_of(cfg.model.depth)
    fn = sj.linen_fn(trained.module, trained.variables, capture_intermediates=False, include=layers, train=False)
    frames = FRAMES[:2] if cfg.quick else FRAMES
    noise_levels = NOISE[1:2] if cfg.quick else NOISE
    clean, noisy = {}, {}
    # Each finished recording length and noise level is stored under steps/: a killed run resumes after it.
    steps = out / "steps"
    for n_frames in frames:
        design = dataclasses.replace(cfg.design, tags=dataclasses.replace(cfg.design.tags, n_frames=n_frames))
        key = design.key(trained.checkpoint_dir, cfg.n_images, tuple(layers))
        clean[n_frames] = sj.resumable_step(steps, f"clean-{key}", lambda d=design: summarise(
            sj.analyse(fn, images, masks, d, progress=cfg.progress), d))
        zdesign = dataclasses.replace(design, significance="z")
        for level in noise_levels if n_frames == 240 else noise_levels[-1:]:
            def noisy_step(level=level, zdesign=zdesign):
                spec = sj.probe_dataset(fn, images, masks, zdesign, one_period=False, pixel_noise=level, noise_seed=0,
                                        progress=cfg.progress)
                return summarise(sj.measure(spec, zdesign), zdesign)

            noisy[f"{n_frames}/{level:g}"] = sj.resumable_step(steps, f"noisy{level:g}-{key}", noisy_step)
        print(f"T = {n_frames}: {round(time.time() - t0)} s", flush=True)
    report = {"experiment": "invariance", "settings": sj.job_settings(cfg, data, trained), "layers": layers,
              "frames": list(frames), "noise_levels": list(noise_levels),
              "conventions": {"rule": cfg.design.rule, "z_rule": "z > threshold against neighbouring bins, component "
                              "bins excluded", "noise": "Gaussian, standard deviation in pixel units (images in "
                              "[0, 1]), independent per pixel and frame; every frame probed",
                              "false_positive_rate": "fraction of units passing the rule at off-lattice bins"},
              "clean": clean, "noisy": noisy}
    report["figure"] = figure(report, str(out / "invariance.png"))
    report["seconds"] = round(time.time() - t0, 1)
    sj.write_json(out / "invariance.json", report)
    last = layers[-1]
    for n_frames in frames:
        c = clean[n_frames][last]
        print(f"T={n_frames} {last}: any IM (amplitude test) {c['rule']['any_intermodulation']:.3f}, (z rule) "
              f"{c['z_rule']['any_intermodulation']:.3f}; IM share {c['share_intermodulation']:.4f}")
    for key, v in noisy.items():
        print(f"noise {key}: z-rule false-positive rate per layer "
              f"{[round(v[x]['z_rule']['false_positive_rate'], 3) for x in layers]}")
    print(f"wrote {out}/invariance.json and invariance.png in {report['seconds']} s")
    return report


def figure(report: dict, path: str) -> str:
    import matplotlib.pyplot as plt

    layers, frames = report["layers"], report["frames"]
    short = [x.removesuffix("/post") for x in layers]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    x = np.arange(len(layers))
    width = 0.8 / len(frames)
    for i, (t, c) in enumerate(report["clean"].items()):
        axes[0].bar(x + (i - (len(frames) - 1) / 2) * width, [c[n]["z_rule"]["any_intermodulation"] for n in layers],
                    width, label=f"z rule, T = {t}", color=plt.get_cmap("Reds")(0.35 + 0.3 * i))
        axes[0].plot(x + (i - (len(frames) - 1) / 2) * width, [c[n]["rule"]["any_intermodulation"] for n in layers],
                     "k_", ms=14, mew=2, label="amplitude test (every T)" if i == 0 else None)
    axes[0].set_title("Noise-free: units with any\nintermodulation response", fontsize=10)
    axes[0].set_ylabel("fraction of the layer's units")
    for i, (t, c) in enumerate(report["clean"].items()):
        axes[1].plot(x, [c[n]["share_intermodulation"] for n in layers], marker="o", ls="-" if i == 0 else "--",
                     label=f"T = {t}")
    axes[1].set_yscale("log")
    axes[1].set_title("Noise-free: share of AC power at intermodulation\n(mean over units; the lines for every T "
                      "coincide)", fontsize=10)
    axes[1].set_ylabel("share of AC power")
    for key, v in report["noisy"].items():
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
    return sj.save_figure(fig, path)


if __name__ == "__main__":
    sj.run_script(main)
