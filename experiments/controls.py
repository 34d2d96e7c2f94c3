"""Experiment 2: control conditions, measured exactly like the reproduction (``ssvepjax.experiments.controls``).

Conditions: the trained network; the same network untrained (random init); the trained weights with every
nonlinearity replaced by identity (an affine network: no harmonics or intermodulation beyond the false-positive
rate); only the left half modulated (no intermodulation); the tags swapped between the halves (responses follow
the part). Every condition is read at the bins of the original design, and the false-positive rate at off-lattice
bins. A killed run resumes after the last finished condition.

    python experiments/controls.py --quick --out runs/controls_quick    # CI size, 1-2 min on the shared 2-core machine
    python experiments/controls.py --out runs/controls                  # ResNet-32, 32 images, ~14 min; resumes
    python experiments/controls.py --conditions trained linear          # a subset of the conditions

Writes ``controls.json`` and ``controls.png``.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("controls")

if __name__ == "__main__":
    experiments.script("controls")
