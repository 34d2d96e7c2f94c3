"""Tests for ssvepjax.stream: the fast single-image probe, streamed datasets, sharding, bad input."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from ssvepjax import stream
from ssvepjax.analysis import Design, measure, spectra
from ssvepjax.models import CifarResNet
from ssvepjax.probe import linen_fn
from ssvepjax.spectral import NoiseConfig, amplitude_spectrum
from ssvepjax.stimulus import TagConfig, halves

# 40 frames at 40 fps: 1 Hz bins, tags on bins 4 and 5, 21 rfft bins.
TAGS = TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
DESIGN = Design(TAGS, NoiseConfig(n_neighbors=3, skip=1), max_order=3)
SIZE = 12


def random_variables(model, size, seed=0):
    """Random weights and batch statistics with the shapes of ``model.init`` (which compiles slowly)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 3)))

    def fill(path, leaf):
        name = jax.tree_util.keystr(path)
        if "var" in name:
            return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
        return (0.3 * rng.standard_normal(leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@pytest.fixture(scope="module")
def model_fn():
    model = CifarResNet(8, width=4)
    return linen_fn(model, random_variables(model, SIZE), capture_intermediates=False, train=False)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((5, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def reference(model_fn, images):
    return spectra(model_fn, images, halves(SIZE, SIZE), TAGS, progress=False)


def assert_spectra_close(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        g, w = np.asarray(got[k]), np.asarray(want[k])
        assert g.shape == w.shape, k
        # atol: an amplitude within rounding of the CONSTANT_RTOL floor may be kept by one exact
        # transform and zeroed by another (float32 rounding of about 1e-6 of the series' peak).
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5 * max(np.abs(w).max(), 1e-30), err_msg=k)


def assert_measures_close(got, want: dict, names):
    """Compare with ``LayerResult.neuron`` where the measure is well conditioned.

    Where the noise window's spread is at the level of float32 rounding (units that see one part, or
    nothing that flickers), z and SNR are ratios of rounding errors: any two correct summation
    orders give different values there, so only well-conditioned units are compared.
    """
    compared = 0
    for k, res in want.items():
        a, bca, z = res.neuron["amplitude"], res.neuron["bca"], res.neuron["z"]
        mu = a - bca
        sigma = np.where(z != 0, bca / np.where(z != 0, z, 1), np.nan)
        scale = max(np.abs(a).max(), 1e-30)
        # z's relative error is the rounding of the amplitudes (about 1e-6 of the layer's largest)
        # over sigma: compare where sigma is 1e-3 of that scale or more.
        good = (mu > 1e-3 * scale) & (sigma > 1e-3 * mu) & (sigma > 1e-3 * scale)
        compared += good.sum()
        amp = np.asarray(got[k]["amplitude"])
        np.testing.assert_allclose(amp, a, rtol=1e-4, atol=2e-5 * scale, err_msg=k)
        for name in names:
            g, w = np.asarray(got[k][name]), res.neuron[name]
            assert g.shape == w.shape, (k, name)
            atol = {"z": 1e-3, "snr": 1e-4}.get(name, 1e-5 * scale)
            np.testing.assert_allclose(g[good], w[good], rtol=2e-3, atol=atol, err_msg=f"{k} {name}")
            # Incomplete noise windows are NaN in both.
            assert np.array_equal(np.isnan(g).all(axis=tuple(range(1, g.ndim))),
                                  np.isnan(w).all(axis=tuple(range(1, w.ndim)))), (k, name)
    assert compared > 100  # the comparison is not vacuous


@pytest.mark.parametrize("method", ["matmul", "fft"])
@pytest.mark.parametrize("n_frames", [2, 3, 16, 37, 40, 240])
def test_rows_equal_amplitude_spectrum(method, n_frames):
    rng = np.random.default_rng(n_frames)
    x = rng.standard_normal((n_frames, 9)).astype(np.float32)
    x[:, 0] = 0.0  # a dead unit
    x[:, 1] = 2.5  # a constant unit: DC only
    plan = stream._plan(n_frames, method)
    rows = jax.jit(lambda v: stream._rows(v, plan))(x)
    _, want = amplitude_spectrum(x, fps=float(n_frames))
    np.testing.assert_allclose(np.asarray(rows)[plan.row_of_bin], np.asarray(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["matmul", "fft"])
@pytest.mark.parametrize(("period", "repeats"), [(80, 3), (20, 2), (7, 2)])
def test_rows_of_one_period_equal_spectrum_of_all_periods(method, period, repeats):
    rng = np.random.default_rng(period)
    x = rng.standard_normal((period, 6)).astype(np.float32)
    x[:, 0] = 1.5  # a constant unit
    plan = stream._plan(period * repeats, method, repeats)
    rows = np.asarray(jax.jit(lambda v: stream._rows(v, plan))(x))
    assert rows.shape[0] == plan.n_rows and len(plan.row_of_bin) == period * repeats // 2 + 1
    _, want = amplitude_spectrum(np.tile(x, (repeats, 1)), fps=1.0)
    np.testing.assert_allclose(rows[plan.row_of_bin], np.asarray(want), rtol=1e-5, atol=1e-5)
    off = np.arange(len(plan.row_of_bin)) % repeats != 0
    assert np.all(rows[plan.row_of_bin[off]] == 0.0)


def test_rows_of_a_sinusoid_analytic():
    # 240 frames: a cosine of amplitude 0.3 on bin 12 plus an offset 0.5.
    t = np.arange(240)
    x = (0.5 + 0.3 * np.cos(2 * np.pi * 12 * t / 240 + 0.4)).astype(np.float32)[:, None]
    plan = stream._plan(240, "matmul")
    assert plan.t1 > 1  # the two-stage factorisation, not a plain DFT
    amp = np.asarray(stream._rows(jnp.asarray(x), plan))[plan.row_of_bin, 0]
    assert amp[0] == pytest.approx(0.5, rel=1e-6)
    assert amp[12] == pytest.approx(0.3, rel=1e-5)
    assert np.all(np.delete(amp, [0, 12]) == 0.0)  # below the rounding floor: exactly 0


def test_probe_dataset_equals_spectra_with_partial_chunk(model_fn, images, reference):
    # 5 images in chunks of 2: the last chunk holds one image and one zero-weight pad.
    got = stream.probe_dataset(model_fn, images, halves(SIZE, SIZE), DESIGN, chunk_size=2, progress=False)
    assert_spectra_close(got, reference)


@pytest.mark.parametrize(("method", "unit_block"), [("matmul", 7), ("fft", 7), ("fft", None)])
def test_probe_dataset_iterable_and_unit_blocks(model_fn, images, reference, method, unit_block):
    # Uneven input batches, regrouped into chunks of 3; blocks of 7 units leave a remainder.
    # unit_block=None is the accelerator path: network and reduction in one program per chunk.
    parts = (images[:1], images[1:4], images[4:])
    got = stream.probe_dataset(model_fn, iter(parts), halves(SIZE, SIZE), TAGS, chunk_size=3,
                               progress=False, method=method, unit_block=unit_block)
    assert_spectra_close(got, reference)


def test_probe_dataset_works_with_measure(model_fn, images, reference):
    got = stream.probe_dataset(model_fn, images, halves(SIZE, SIZE), DESIGN, chunk_size=8, progress=False)
    res, want = measure(got, DESIGN), measure(reference, DESIGN)
    np.testing.assert_allclose(res["stem/post"].layer_spectrum, want["stem/post"].layer_spectrum, rtol=1e-5)


@pytest.mark.parametrize("unit_block", [None, 7])
def test_measures_fn_equals_measure_of_one_image(model_fn, images, unit_block):
    design = Design(TAGS, NoiseConfig(n_neighbors=3, skip=1), max_order=3)
    run = stream.measures_fn(model_fn, halves(SIZE, SIZE), design, measures=stream.MEASURES,
                             unit_block=unit_block)
    got = run(images[0])
    want = measure(spectra(model_fn, images[:1], halves(SIZE, SIZE), TAGS, progress=False), design)
    assert_measures_close(got, want, stream.MEASURES)


def test_measures_fn_drop_extremes_and_fft(model_fn, images):
    design = Design(TAGS, NoiseConfig(n_neighbors=4, skip=1, drop_extremes=1), max_order=3)
    run = stream.measures_fn(model_fn, halves(SIZE, SIZE), design, measures=("snr", "z"), method="fft")
    got = run(images[1])
    assert set(got["stem/post"]) == {"snr", "z"}
    want = measure(spectra(model_fn, images[1:2], halves(SIZE, SIZE), TAGS, progress=False), design)
    got = {k: {"amplitude": want[k].neuron["amplitude"], **v} for k, v in got.items()}
    assert_measures_close(got, want, ("snr", "z"))


@pytest.mark.parametrize("unit_block", [5, None])
def test_spectrum_measures_equals_measure(reference, unit_block):
    got = stream.spectrum_measures(reference, DESIGN, measures=stream.MEASURES, unit_block=unit_block)
    assert_measures_close(got, measure(reference, DESIGN), stream.MEASURES)


_SHARDED = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np, pytest
    from jax.sharding import Mesh
    from ssvepjax import stream
    from ssvepjax.analysis import Design
    from ssvepjax.models import CifarResNet
    from ssvepjax.probe import linen_fn
    from ssvepjax.spectral import NoiseConfig
    from ssvepjax.stimulus import TagConfig, halves
    sys.path.insert(0, TESTS_DIR)
    from test_stream import assert_spectra_close, random_variables

    assert jax.device_count() == 4, jax.devices()
    tags = TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
    design = Design(tags, NoiseConfig(n_neighbors=3, skip=1), max_order=3)
    model = CifarResNet(8, width=4)
    fn = linen_fn(model, random_variables(model, 12), capture_intermediates=False, train=False)
    images = np.random.default_rng(1).random((10, 12, 12, 3)).astype(np.float32)
    masks = halves(12, 12)
    one = stream.probe_dataset(fn, images, masks, design, chunk_size=4, progress=False)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    # 10 images in chunks of 8 over 4 devices: the second chunk is 2 images and 6 pads.
    four = stream.probe_dataset(fn, images, masks, design, chunk_size=8, mesh=mesh, progress=False)
    grid = Mesh(np.array(jax.devices()).reshape(2, 2), ("model", "batch"))
    two = stream.probe_dataset(fn, (images[i:i + 3] for i in range(0, 10, 3)), masks, design,
                               chunk_size=2, mesh=grid, axis_name="batch", progress=False)
    # One program per chunk (the accelerator path) on the same mesh.
    fused = stream.probe_dataset(fn, images, masks, design, chunk_size=4, mesh=mesh, progress=False,
                                 unit_block=None)
    # Equal up to float32 rounding: the devices run the network on smaller batches.
    assert_spectra_close(four, one)
    assert_spectra_close(two, one)
    assert_spectra_close(fused, one)
    with pytest.raises(ValueError, match="at least one image per device"):
        stream.probe_dataset(fn, images[:3], masks, design, chunk_size=4, mesh=mesh, progress=False)
    with pytest.raises(ValueError, match="at least one image per device"):
        stream.probe_dataset(fn, iter([images[:3]]), masks, design, chunk_size=4, mesh=mesh, progress=False)
    with pytest.raises(ValueError, match="multiple of the 4 device"):
        stream.probe_dataset(fn, images, masks, design, chunk_size=6, mesh=mesh, progress=False)
    print("SHARDED-OK")
""")


def test_sharded_over_four_devices_equals_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    code = _SHARDED.replace("TESTS_DIR", repr(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SHARDED-OK" in done.stdout


@pytest.mark.parametrize("chunk_size", [0, -1, 1.5, True])
def test_bad_chunk_size(model_fn, images, chunk_size):
    with pytest.raises(ValueError, match="chunk_size"):
        stream.probe_dataset(model_fn, images, halves(SIZE, SIZE), DESIGN, chunk_size=chunk_size)


def test_bad_dataset_input(model_fn, images):
    masks = halves(SIZE, SIZE)
    one = Mesh(np.asarray(jax.devices()[:1]), ("model",))
    with pytest.raises(ValueError, match="no axis named 'data'"):
        stream.probe_dataset(model_fn, images, masks, DESIGN, mesh=one)
    with pytest.raises(ValueError, match="jax.sharding.Mesh"):
        stream.probe_dataset(model_fn, images, masks, DESIGN, mesh="data")
    with pytest.raises(ValueError, match="empty"):
        stream.probe_dataset(model_fn, images[:0], masks, DESIGN)
    with pytest.raises(ValueError, match="empty"):
        stream.probe_dataset(model_fn, iter([]), masks, DESIGN)
    with pytest.raises(ValueError, match="rank 4"):
        stream.probe_dataset(model_fn, images[0], masks, DESIGN)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stream.probe_dataset(model_fn, images * 3, masks, DESIGN)
    with pytest.raises(ValueError, match="image shape"):
        stream.probe_dataset(model_fn, [images[:2], images[:2, :6]], masks, DESIGN, progress=False)
    with pytest.raises(ValueError, match="iterable"):
        stream.probe_dataset(model_fn, 3, masks, DESIGN)
    with pytest.raises(ValueError, match="Design or a TagConfig"):
        stream.probe_dataset(model_fn, images, masks, "design")
    with pytest.raises(ValueError, match="method"):
        stream.probe_dataset(model_fn, images, masks, DESIGN, method="dft")
    with pytest.raises(ValueError, match="unit_block"):
        stream.probe_dataset(model_fn, images, masks, DESIGN, unit_block=0)
    with pytest.raises(ValueError, match="spatial shape"):
        stream.probe_dataset(model_fn, images, halves(SIZE, SIZE + 2), DESIGN)


def test_bad_measures_input(model_fn, images, reference):
    with pytest.raises(ValueError, match="measures"):
        stream.measures_fn(model_fn, halves(SIZE, SIZE), DESIGN, measures=("power",))
    with pytest.raises(ValueError, match="measures"):
        stream.measures_fn(model_fn, halves(SIZE, SIZE), DESIGN, measures=())
    run = stream.measures_fn(model_fn, halves(SIZE, SIZE), DESIGN)
    with pytest.raises(ValueError, match="rank 3"):
        run(images)
    with pytest.raises(ValueError, match="bins"):
        stream.spectrum_measures({"x": reference["stem/post"][:-1]}, DESIGN)


def test_enable_compilation_cache(tmp_path):
    old = jax.config.jax_compilation_cache_dir
    try:
        stream.enable_compilation_cache(str(tmp_path))
        assert jax.config.jax_compilation_cache_dir == str(tmp_path)
        with pytest.raises(ValueError, match="min_compile_time_s"):
            stream.enable_compilation_cache(str(tmp_path), min_compile_time_s=-1)
        with pytest.raises(ValueError, match="path"):
            stream.enable_compilation_cache(3)
    finally:
        jax.config.update("jax_compilation_cache_dir", old)


# Tags on bins 4 and 6 of 40 frames: the stimulus repeats twice (one period is 20 frames).
PTAGS = TagConfig((4.0, 6.0), fps=40.0, n_frames=40)
PDESIGN = Design(PTAGS, NoiseConfig(n_neighbors=3, skip=1), max_order=3)


@pytest.fixture(scope="module")
def every_frame(model_fn, images):
    """The periodic design's spectra from all 40 frames (the definition)."""
    return spectra(model_fn, images, halves(SIZE, SIZE), PTAGS, progress=False, one_period=False)


def test_one_period_spectra_equal_every_frame(model_fn, images, every_frame):
    assert PTAGS.repeats == 2
    got = spectra(model_fn, images, halves(SIZE, SIZE), PTAGS, progress=False)
    assert_spectra_close(got, every_frame)
    off = np.arange(PDESIGN.n_bins) % 2 == 1
    assert all(np.all(np.asarray(v)[off] == 0.0) for v in got.values())  # exactly 0 off the lattice


@pytest.mark.parametrize(("method", "unit_block"), [("matmul", 7), ("fft", None)])
def test_probe_dataset_one_period_equals_every_frame(model_fn, images, every_frame, method, unit_block):
    got = stream.probe_dataset(model_fn, images, halves(SIZE, SIZE), PDESIGN, chunk_size=2, progress=False,
                               method=method, unit_block=unit_block)
    assert_spectra_close(got, every_frame)
    full = stream.probe_dataset(model_fn, images, halves(SIZE, SIZE), PDESIGN, chunk_size=2, progress=False,
                                method=method, unit_block=unit_block, one_period=False)
    assert_spectra_close(full, every_frame)


@pytest.mark.parametrize(("unit_block", "drop"), [(7, 0), (None, 0), (7, 1)])
def test_measures_fn_one_period_equals_measure_of_every_frame(model_fn, images, unit_block, drop):
    # The noise windows of a repeated series hold zero bins that are counted without being read.
    design = Design(PTAGS, NoiseConfig(n_neighbors=3, skip=1, drop_extremes=drop), max_order=3)
    run = stream.measures_fn(model_fn, halves(SIZE, SIZE), design, measures=stream.MEASURES,
                             unit_block=unit_block)
    got = run(images[2])
    want = measure(spectra(model_fn, images[2:3], halves(SIZE, SIZE), PTAGS, progress=False, one_period=False),
                   design)
    assert_measures_close(got, want, stream.MEASURES)


def test_probe_dataset_resumes_from_checkpoint(model_fn, images, reference, tmp_path):
    masks, ckpt = halves(SIZE, SIZE), tmp_path / "probe"

    def interrupted():  # two chunks of 2, then the job dies
        yield images[:4]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stream.probe_dataset(model_fn, interrupted(), masks, DESIGN, chunk_size=2, progress=False,
                             checkpoint_dir=ckpt, checkpoint_every=1)
    # On resume the first two chunks are not run again: replace them by other images and the result
    # still equals the reference, because their sums come from the checkpoint.
    other = np.concatenate([np.zeros_like(images[:4]), images[4:]])
    got = stream.probe_dataset(model_fn, other, masks, DESIGN, chunk_size=2, progress=False, checkpoint_dir=ckpt,
                               checkpoint_every=1)
    assert_spectra_close(got, reference)
    with pytest.raises(ValueError, match="other settings"):
        stream.probe_dataset(model_fn, images, masks, DESIGN, chunk_size=1, progress=False, checkpoint_dir=ckpt)
    with pytest.raises(ValueError, match="more than"):
        stream.probe_dataset(model_fn, images[:2], masks, DESIGN, chunk_size=2, progress=False, checkpoint_dir=ckpt)
    with pytest.raises(ValueError, match="checkpoint_every"):
        stream.probe_dataset(model_fn, images, masks, DESIGN, checkpoint_dir=ckpt, checkpoint_every=0)
