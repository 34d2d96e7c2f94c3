import numpy as np
import pytest
import tensorflow_datasets as tfds

import ssvepjax as sj


def test_embedded_digits(tmp_path):
    d = sj.load_dataset("digits", cache_dir=str(tmp_path), n_test=200)
    assert d.train_images.shape == (1597, 8, 8, 1) and d.test_images.shape == (200, 8, 8, 1)
    assert d.train_images.min() >= 0 and d.train_images.max() <= 1 and d.num_classes == 10
    assert len(np.unique(d.test_labels)) == 10  # the seeded shuffle balances the split
    again = sj.load_dataset("digits", cache_dir=str(tmp_path), n_test=200)  # from the npz cache
    np.testing.assert_array_equal(again.test_images, d.test_images)


def test_tfds_data_source_with_mock(tmp_path):
    (tmp_path / "cifar10").mkdir()
    with tfds.testing.mock_data(num_examples=6, data_dir=str(tmp_path)):
        d = sj.load_dataset("cifar10", data_dir=str(tmp_path), max_train=5)
    assert d.train_images.shape == (5, 32, 32, 3) and d.test_images.shape == (6, 32, 32, 3)
    assert d.train_images.dtype == np.float32 and 0 <= d.train_images.min() and d.train_images.max() <= 1
    assert d.train_labels.dtype == np.int32


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="nosuchset"), "unknown dataset"),
    (dict(name="cifar10", data_dir="/nonexistent/dir"), "no prepared dataset"),
    (dict(name="digits", max_train=0), "max_train"),
])
def test_bad_dataset_args(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        sj.load_dataset(cache_dir=str(tmp_path), **kwargs)


def test_unprepared_tfds_dir(tmp_path):
    (tmp_path / "cifar10").mkdir()
    with pytest.raises(ValueError, match="not prepared"):
        sj.load_dataset("cifar10", data_dir=str(tmp_path))
