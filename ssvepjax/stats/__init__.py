"""Statistics: T-squared tests on complex coefficients, the amplitude test, FDR control across images, and the verdict
rule of every published comparison (paired tests with a stated error rate)."""

from ssvepjax.stats.amplitude import amplitude_moments as amplitude_moments
from ssvepjax.stats.amplitude import amplitude_test as amplitude_test
from ssvepjax.stats.amplitude import merge_amplitude_moments as merge_amplitude_moments
from ssvepjax.stats.amplitude import student_survival as student_survival
from ssvepjax.stats.fdr import fdr_bh as fdr_bh
from ssvepjax.stats.t2 import MOMENT_KEYS as MOMENT_KEYS
from ssvepjax.stats.t2 import circular_from_moments as circular_from_moments
from ssvepjax.stats.t2 import circular_t2 as circular_t2
from ssvepjax.stats.t2 import coefficient_moments as coefficient_moments
from ssvepjax.stats.t2 import f_survival as f_survival
from ssvepjax.stats.t2 import hotelling_from_moments as hotelling_from_moments
from ssvepjax.stats.t2 import hotelling_t2 as hotelling_t2
from ssvepjax.stats.t2 import merge_moments as merge_moments
from ssvepjax.stats.verdicts import holm as holm
from ssvepjax.stats.verdicts import paired_verdict as paired_verdict
from ssvepjax.stats.verdicts import verdict_table as verdict_table

__all__ = ["MOMENT_KEYS", "amplitude_moments", "amplitude_test", "circular_from_moments", "circular_t2",
    "coefficient_moments", "f_survival", "fdr_bh", "holm", "hotelling_from_moments", "hotelling_t2",
    "merge_amplitude_moments", "merge_moments", "paired_verdict", "student_survival", "verdict_table"]
