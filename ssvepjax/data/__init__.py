"""Image datasets: the embedded offline defaults and tensorflow-datasets sources."""

from ssvepjax.data.datasets import EMBEDDED as EMBEDDED
from ssvepjax.data.datasets import Dataset as Dataset
from ssvepjax.data.datasets import default_cache_dir as default_cache_dir
from ssvepjax.data.datasets import load_dataset as load_dataset
