"""Experiment 1: reproduce the paper's part-based tagging on a ResNet-32 (``ssvepjax.experiments.reproduce``).

Left half at 6 Hz, right half at 7.5 Hz, 120 frames/s, 240 frames; every conv layer recorded before and after its
nonlinearity; per layer the fraction of units that respond at each component, effect sizes, SNR and the design's
collisions.

    python experiments/reproduce.py --quick --out runs/reproduce_quick     # CI size, ~1 min
    python experiments/reproduce.py --out runs/reproduce                   # ResNet-32, 32 images, ~4 min on 2 cores
    python experiments/reproduce.py --dataset cifar10 --data-dir DIR --out runs/reproduce_cifar10

Writes ``reproduce.json``, ``layer_fractions.png``, ``harmonic_orders.png``, ``spectrum_f1f2.png``.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("reproduce")

if __name__ == "__main__":
    experiments.script("reproduce")
