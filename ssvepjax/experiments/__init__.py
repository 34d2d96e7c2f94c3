"""Experiments: the main job and every experiment of the library, in one framework (``framework``).

- ``framework``: :class:`ExperimentConfig` (the one configuration type: a CI size, one key), the command line of
  every experiment (:func:`main`), and :data:`NAMES`;
- ``store``: :class:`Store`, the one result store (resumable steps, arrays, the result with its provenance);
- ``config``: :class:`JobConfig`, the job's configuration, and :func:`load_model`;
- ``job``: the main job behind ``ssvepjax run``; ``cli``: its command line;
- one module per experiment (``reproduce``, ``controls``, ...): its ``Config`` and ``run(config, store)``.
- the benchmarks (``benchmark_probe``, ``benchmark_large``: ``framework.BENCHMARKS``) in the same form, and
  ``benchmarking``: what they share (where their JSON goes, measurements in fresh processes).

Scripts in ``experiments/`` call :func:`main` with their experiment's name.
"""

from ssvepjax.experiments.config import JobConfig as JobConfig
from ssvepjax.experiments.config import config_from_args as config_from_args
from ssvepjax.experiments.config import job_parser as job_parser
from ssvepjax.experiments.config import job_settings as job_settings
from ssvepjax.experiments.config import load_model as load_model
from ssvepjax.experiments.config import run_script as run_script
from ssvepjax.experiments.framework import NAMES as NAMES
from ssvepjax.experiments.framework import ExperimentConfig as ExperimentConfig
from ssvepjax.experiments.framework import entry as entry
from ssvepjax.experiments.framework import main as main
from ssvepjax.experiments.framework import parse as parse
from ssvepjax.experiments.framework import script as script
from ssvepjax.experiments.framework import with_overrides as with_overrides
from ssvepjax.experiments.job import run_job as run_job
from ssvepjax.experiments.store import Store as Store

__all__ = ["NAMES", "config_from_args", "entry", "ExperimentConfig", "job_parser", "job_settings", "JobConfig",
    "load_model", "main", "parse", "run_job", "run_script", "script", "Store", "with_overrides"]
