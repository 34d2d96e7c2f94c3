"""Spectra: the one Fourier transform, the noise measures, and the analysis design."""

from ssvepjax.spectral.design import Design as Design
from ssvepjax.spectral.design import as_design as as_design
from ssvepjax.spectral.fourier import DETECTION_LIMIT as DETECTION_LIMIT
from ssvepjax.spectral.fourier import Plan as Plan
from ssvepjax.spectral.fourier import amplitude_spectrum as amplitude_spectrum
from ssvepjax.spectral.fourier import bins_of_rows as bins_of_rows
from ssvepjax.spectral.fourier import fourier_coefficients as fourier_coefficients
from ssvepjax.spectral.fourier import frequencies as frequencies
from ssvepjax.spectral.fourier import make_plan as make_plan
from ssvepjax.spectral.fourier import repeated_spectrum as repeated_spectrum
from ssvepjax.spectral.fourier import transform as transform
from ssvepjax.spectral.noise import MEASURES as MEASURES
from ssvepjax.spectral.noise import NoiseConfig as NoiseConfig
from ssvepjax.spectral.noise import bca as bca
from ssvepjax.spectral.noise import harmonic_range as harmonic_range
from ssvepjax.spectral.noise import harmonic_sum as harmonic_sum
from ssvepjax.spectral.noise import measures_at as measures_at
from ssvepjax.spectral.noise import measures_from_rows as measures_from_rows
from ssvepjax.spectral.noise import noise_stats as noise_stats
from ssvepjax.spectral.noise import snr as snr
from ssvepjax.spectral.noise import window_stats as window_stats
from ssvepjax.spectral.noise import zscore as zscore

__all__ = ["DETECTION_LIMIT", "MEASURES", "amplitude_spectrum", "as_design", "bca", "bins_of_rows", "Design",
    "fourier_coefficients", "frequencies", "harmonic_range", "harmonic_sum", "make_plan", "measures_at",
    "measures_from_rows", "noise_stats", "NoiseConfig", "Plan", "repeated_spectrum", "snr", "transform",
    "window_stats", "zscore"]
