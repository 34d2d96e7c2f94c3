"""Image datasets: the embedded offline defaults, tensorflow-datasets sources, the boxed-digit canvas task, and
folders of images with PASCAL VOC / ImageNet box annotations (``load_box_folder``)."""

from ssvepjax.data.box_folder import BoxFolder as BoxFolder
from ssvepjax.data.box_folder import VocObject as VocObject
from ssvepjax.data.box_folder import load_box_folder as load_box_folder
from ssvepjax.data.box_folder import read_voc_boxes as read_voc_boxes
from ssvepjax.data.canvas import BoxedImages as BoxedImages
from ssvepjax.data.canvas import CanvasConfig as CanvasConfig
from ssvepjax.data.canvas import CanvasDataset as CanvasDataset
from ssvepjax.data.canvas import boxed_digits as boxed_digits
from ssvepjax.data.canvas import canvas_dataset as canvas_dataset
from ssvepjax.data.datasets import EMBEDDED as EMBEDDED
from ssvepjax.data.datasets import Dataset as Dataset
from ssvepjax.data.datasets import default_cache_dir as default_cache_dir
from ssvepjax.data.datasets import load_dataset as load_dataset

__all__ = ["EMBEDDED", "boxed_digits", "BoxedImages", "BoxFolder", "canvas_dataset", "CanvasConfig", "CanvasDataset",
    "Dataset", "default_cache_dir", "load_box_folder", "load_dataset", "read_voc_boxes", "VocObject"]
