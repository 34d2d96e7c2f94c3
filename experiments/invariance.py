"""Experiment 5: how the measures behave across recording length and injected noise (SCIENCE.md section 6;
``ssvepjax.experiments.invariance``).

The same trained network and the same 80-frame stimulus period (6 and 7.5 Hz at 120 frames/s) recorded for
T = 160, 240 and 480 frames (``--frames``), without noise (one period probed, exact) and with independent Gaussian
noise added to every pixel of every frame (``--noise-levels``; every frame probed). For a few layers
(post-activation) it reports the default rule (amplitude test across images) and the effect sizes, which must not
move with T; the EEG z rule on the same spectra, whose fractions move with T alone for a noise-free network; and,
under injected noise, the z rule's rate at off-lattice bins, which should sit near its nominal level.

    python experiments/invariance.py --quick --out runs/invariance_quick   # CI size (T 160, 240; noise 0.03), 35-140 s
    python experiments/invariance.py --out runs/invariance                 # ResNet-32, 16 images, ~18 min; resumes

Writes ``invariance.json`` and ``invariance.png``.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("invariance")

if __name__ == "__main__":
    experiments.script("invariance")
