import numpy as np
import pytest

RTOL, ATOL = 1e-4, 1e-5


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    """One tolerance for every float comparison against a NumPy reference (float32 vs float64)."""
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol,
                               atol=atol, equal_nan=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
