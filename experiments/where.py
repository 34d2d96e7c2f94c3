"""Experiment 3: where in the network the responses happen (``ssvepjax.experiments.where``).

Spatial SNR maps (and maps of the fraction of channels that respond) at f1, f2 and f1+f2 per layer, and
intermodulation against receptive-field position: positions are classed by their theoretical receptive field
(left-only, both, right-only) and the fraction of units that respond at f1, f2, f1+f2 and any intermodulation is
reported per class. Intermodulation should appear only where the receptive field covers both halves (and never
before the first nonlinearity: stem/pre).

    python experiments/where.py --quick --out runs/where_quick      # CI size, 30-60 s
    python experiments/where.py --out runs/where                    # ResNet-32, 32 images, ~1 min on 2 cores

Writes ``where.json``, ``snr_maps.png``, ``significance_maps.png``, ``rf_classes.png``, ``column_profiles.png``.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("where")

if __name__ == "__main__":
    experiments.script("where")
