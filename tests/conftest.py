import numpy as np
import pytest

RTOL, ATOL = 1e-4, 1e-5


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    """One tolerance for every float comparison against a NumPy reference (float32 vs float64)."""
    a, e = np.asarray(actual), np.asarray(expected)
    dtype = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(e) else np.float64
    np.testing.assert_allclose(a.astype(dtype), e.astype(dtype), rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_variables(model, size, seed=0, channels=3):
    """Random weights and batch statistics with the shapes of ``model.init`` (which compiles slowly)."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, channels)))

    def fill(path, leaf):
        name = jax.tree_util.keystr(path)
        if "var" in name:
            return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
        return (0.3 * rng.standard_normal(leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


def numpy_spectra(fn, images, masks, tags, detection_limit=1e-4, resolution=1e-7):
    """Reference image-averaged amplitude spectra: every frame through ``fn``, float64 NumPy rfft.

    Independent of the library's transform: frames from the stimulus formula, the one-sided scaling and
    the detection floor (amplitudes at or below ``max(detection_limit * sqrt(2) * std, resolution * peak)``
    of their series are 0, DC excepted) written out here.
    """
    import jax

    t = np.arange(tags.n_frames)[:, None] / tags.fps
    g = 1 - (1 - tags.min_gain) * (1 - np.sin(2 * np.pi * np.asarray(tags.freqs_hz)[None] * t + tags.phase)) / 2
    m = np.asarray(masks, np.float64)
    total = None
    for image in np.asarray(images, np.float64):
        gain = 1 + np.einsum("tp,phw->thw", g - 1, m)
        frames = (image[None] * gain[..., None]).astype(np.float32)
        acts = {k: np.asarray(v, np.float64) for k, v in jax.vmap(fn)(frames).items()}
        spec = {}
        for k, x in acts.items():
            n = x.shape[0]
            scale = np.full(n // 2 + 1, 2.0 / n)
            scale[0] = 1.0 / n
            if n % 2 == 0:
                scale[-1] = 1.0 / n
            amp = np.abs(np.fft.rfft(x, axis=0)) * scale.reshape((-1,) + (1,) * (x.ndim - 1))
            floor = np.maximum(detection_limit * np.sqrt(2) * x.std(0), resolution * np.abs(x).max(0))
            keep = amp > floor
            keep[0] = True
            spec[k] = np.where(keep, amp, 0.0)
        total = spec if total is None else {k: total[k] + spec[k] for k in spec}
    return {k: v / len(images) for k, v in total.items()}
