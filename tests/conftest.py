"""Shared test helpers, and what the whole run shares: one cache folder inside the clone and JAX's persistent
compilation cache in it, so a program compiled by one test (or one process) is read from disk by the next.

The folder is ``$SSVEPJAX_CACHE`` when set (``.ci/run`` points it inside the clone), else ``<repo>/.test-cache``.
The environment variables are set before JAX is imported, so subprocesses that tests start (the CLI, scripts,
kernels of the notebooks, multi-process runs) inherit them.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.setdefault("SSVEPJAX_CACHE", str(ROOT / ".test-cache"))).resolve()
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE / "jax-tests"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# Most of the suite's time is XLA compiling many small programs once each: LLVM's most expensive optimisation
# passes are skipped in tests (what a program computes does not depend on them). Measured on 2 cores: 11 unit
# tests 62 s -> 55 s, an experiment's --quick run unchanged (36 s); optimisation level 0 saves 2 s more on the
# unit tests but runs the end-to-end tests' real work 1.7x slower. Processes that tests start inherit the flag.
FAST_COMPILE = "--xla_llvm_disable_expensive_passes=true"
if "xla_llvm_disable_expensive_passes" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FAST_COMPILE).strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

RTOL, ATOL = 1e-4, 1e-5


def pytest_collection_modifyitems(config, items):
    """Files with end-to-end (``slow``) tests first, the most of them first; the order inside a file is kept.

    xdist's ``loadfile`` hands files to the workers in collection order (``--no-loadscope-reorder`` in
    pyproject; its default puts the files with the most tests first, which left the long end-to-end files for
    last, one worker running them alone while the other idled): long work first, short files fill in at the end.
    """
    slow: dict = {}
    for item in items:
        slow[item.path] = slow.get(item.path, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[item.path])


def jit_init(model, seed, *args, **kwargs):
    """``model.init(jax.random.key(seed), *args, **kwargs)`` as one compiled program (the same values; run eagerly,
    ``init`` compiles every operation on its own, about three times slower for a ResNet-8)."""
    import functools

    return jax.jit(functools.partial(model.init, **kwargs))(jax.random.key(seed), *args)


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    """One tolerance for every float comparison against a NumPy reference (float32 vs float64)."""
    a, e = np.asarray(actual), np.asarray(expected)
    dtype = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(e) else np.float64
    np.testing.assert_allclose(a.astype(dtype), e.astype(dtype), rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny():
    """An untrained CIFAR ResNet-8 (width 4, 10 classes) on 8x8 grey images, and three images in [0, 1]."""
    import jax.numpy as jnp

    import ssvepjax as sj

    model = sj.CifarResNet(8, 10, width=4)
    variables = jit_init(model, 0, jnp.zeros((1, 8, 8, 1)))
    images = np.asarray(jax.random.uniform(jax.random.key(2), (3, 8, 8, 1)))
    return model, variables, images


@pytest.fixture(scope="session")
def tiny3():
    """An untrained CIFAR ResNet-8 (width 4) with 3 classes, for the pruning tests: ``(model, variables)``."""
    import jax.numpy as jnp

    import ssvepjax as sj

    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    return model, jit_init(model, 0, jnp.ones((1, 8, 8, 1)))


@pytest.fixture(scope="session")
def scored_tiny(tiny3):
    """``tiny3`` with every parameter raised by ``0.2 |noise|`` (no dead filter, no tied scores), six 8x8 images in
    [0, 1) and three-class labels, for the score tests: ``(model, variables, images, labels)``."""
    import jax.numpy as jnp

    model, v = tiny3
    rng = np.random.default_rng(0)
    v = jax.tree_util.tree_map_with_path(
        lambda p, a: a + 0.2 * jnp.abs(jnp.asarray(rng.normal(size=a.shape), a.dtype)), v)
    images = rng.uniform(size=(6, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 3, size=6).astype(np.int32)
    return model, v, images, labels


# The small probing model of the streaming and large-probing tests: four of ResNet-8's fifteen outputs on 12x12 RGB
# images (a first layer, a pre-activation after a residual addition, the last stage, the 1-D logits). The loop treats
# every layer alike, and each recorded layer adds to every program's compile time.
PROBE_SIZE = 12
PROBE_LAYERS = ("stem/post", "stage1_block0/conv2/pre", "stage3_block0/conv2/post", "output")


@pytest.fixture(scope="session")
def probe_fn():
    """``frame [12, 12, 3] -> {layer: activation}`` of an untrained CIFAR ResNet-8 (width 4), ``PROBE_LAYERS``."""
    import ssvepjax as sj
    from ssvepjax.models import random_variables

    model = sj.CifarResNet(8, width=4)
    variables = random_variables(model, jax.ShapeDtypeStruct((1, PROBE_SIZE, PROBE_SIZE, 3), np.float32))
    return sj.linen_fn(model, variables, capture_intermediates=False, train=False, include=PROBE_LAYERS)


@pytest.fixture(scope="session")
def probe_images():
    """Five random 12x12 RGB images in [0, 1), float32."""
    return np.random.default_rng(0).random((5, PROBE_SIZE, PROBE_SIZE, 3)).astype(np.float32)


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
