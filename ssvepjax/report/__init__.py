"""Reports: results on disk (one JSON rule, atomic writes), their provenance, figures and tables."""

from ssvepjax.report.io import read_json as read_json
from ssvepjax.report.io import resumable_step as resumable_step
from ssvepjax.report.io import write_csv as write_csv
from ssvepjax.report.io import write_json as write_json
from ssvepjax.report.io import write_npz as write_npz
from ssvepjax.report.io import write_text as write_text
from ssvepjax.report.origin import code_fingerprint as code_fingerprint
from ssvepjax.report.origin import config_key as config_key
from ssvepjax.report.origin import provenance as provenance
from ssvepjax.report.origin import stale_modules as stale_modules
from ssvepjax.report.origin import trace_code as trace_code
from ssvepjax.report.tables import markdown_table as markdown_table

__all__ = ["code_fingerprint", "config_key", "markdown_table", "provenance", "read_json", "resumable_step",
    "stale_modules", "trace_code", "write_csv", "write_json", "write_npz", "write_text"]
