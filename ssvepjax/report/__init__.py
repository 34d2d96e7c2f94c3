"""Reports: the main job, its command line, one configuration for jobs and experiments, figures, tables, files."""

from ssvepjax.report.config import JobConfig as JobConfig
from ssvepjax.report.config import config_from_args as config_from_args
from ssvepjax.report.config import job_parser as job_parser
from ssvepjax.report.config import job_settings as job_settings
from ssvepjax.report.config import load_model as load_model
from ssvepjax.report.config import run_script as run_script
from ssvepjax.report.io import resumable_step as resumable_step
from ssvepjax.report.io import write_csv as write_csv
from ssvepjax.report.io import write_json as write_json
from ssvepjax.report.io import write_npz as write_npz
from ssvepjax.report.io import write_text as write_text
from ssvepjax.report.provenance import config_key as config_key
from ssvepjax.report.provenance import provenance as provenance
from ssvepjax.report.tables import markdown_table as markdown_table
