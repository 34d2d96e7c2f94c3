"""Calibrate the detection limit: float32 probes of a trained ResNet against the same network in float64
(``ssvepjax.experiments.detection_limit``).

A network driven by an exactly periodic stimulus has structural zeros in exact arithmetic, which float32 turns into
periodic rounding on the same bins as real responses. For every recorded unit and every bin of one stimulus period,
the amplitude in float64 (the reference) and in float32, relative to the unit's AC amplitude, gives for each
candidate limit ``L`` the false passes (structural zeros above ``L`` in float32) and the misses (real responses the
floor deletes), for the trained network and its linear twin, and for the old rule (``1e-4`` of the peak magnitude).

    python experiments/detection_limit.py --quick --out runs/detection_limit_quick   # CI size, 30-60 s
    python experiments/detection_limit.py --out runs/detection_limit                 # ResNet-32, 8 images, ~8 min

Writes ``detection_limit.json`` and ``detection_limit.png``.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("detection_limit")

if __name__ == "__main__":
    experiments.script("detection_limit")
