"""Experiment 4: statistics across images (amplitude test, Hotelling / circular T-squared, FDR) against the z rule
(``ssvepjax.experiments.statistics``).

For each unit of a few layers and each tested bin (fundamentals, 2nd harmonics, order-2 intermodulation, and
off-lattice noise bins), the complex Fourier coefficients of the N images are tested for a non-zero mean
(Hotelling's T-squared and Victor & Mast's circular T-squared), with a Benjamini-Hochberg FDR of 5 % (``--alpha``)
over the units of each layer and bin. Detections are compared with the z > 1.64 rule on the image-averaged
amplitude spectrum of the same units. Only the tests' sufficient statistics are kept, whatever the number of images.

    python experiments/statistics.py --quick --out runs/statistics_quick    # CI size, 30-90 s
    python experiments/statistics.py --out runs/statistics                  # ResNet-32, 32 images, ~4 min on 2 cores
    python experiments/statistics.py --layers stem/post stage3_block4/conv2/post --alpha 0.01

Writes ``statistics.json`` and ``detections.png``.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("statistics")

if __name__ == "__main__":
    experiments.script("statistics")
