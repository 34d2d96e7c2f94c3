"""Tests for ssvepjax.streaming: the one image loop, its reductions, devices, checkpoints, bad input."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import numpy_spectra
from jax.sharding import Mesh

import ssvepjax as sj

# 40 frames at 40 fps: 1 Hz bins, tags on bins 4 and 5, 21 rfft bins.
TAGS = sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
DESIGN = sj.Design(TAGS, sj.NoiseConfig(n_neighbors=3, skip=1), max_order=3)
SIZE = 12


@pytest.fixture(scope="module")
def model_fn(probe_fn):
    return probe_fn


@pytest.fixture(scope="module")
def images(probe_images):
    return probe_images


@pytest.fixture(scope="module")
def reference(model_fn, images):
    return numpy_spectra(model_fn, images, sj.halves(SIZE, SIZE), TAGS)


def assert_spectra_close(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        g, w = np.asarray(got[k]), np.asarray(want[k])
        assert g.shape == w.shape, k
        # atol: an amplitude within rounding of the detection floor may be kept by one exact transform and
        # zeroed by another (float32 rounding of about 1e-6 of the series' peak).
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5 * max(np.abs(w).max(), 1e-30), err_msg=k)


def test_probe_dataset_equals_numpy_with_partial_chunk(model_fn, images, reference):
    # 5 images in chunks of 2: the last chunk holds one image and one zero-weight pad.
    got = sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), DESIGN, chunk_size=2, progress=False)
    assert_spectra_close(got, reference)


@pytest.mark.parametrize("method", ["matmul", "fft"])
def test_probe_dataset_iterable_of_uneven_batches(model_fn, images, reference, method):
    parts = (images[:1], images[1:4], images[4:])  # regrouped into chunks of 3
    got = sj.probe_dataset(model_fn, iter(parts), sj.halves(SIZE, SIZE), TAGS, chunk_size=3, progress=False,
                           method=method)
    assert_spectra_close(got, reference)


# Tags on bins 4 and 6 of 40 frames: the stimulus repeats twice (one period is 20 frames).
PTAGS = sj.TagConfig((4.0, 6.0), fps=40.0, n_frames=40)


@pytest.mark.parametrize("method", ["matmul", "fft"])
def test_one_period_equals_every_frame(model_fn, images, method):
    assert PTAGS.repeats == 2
    want = numpy_spectra(model_fn, images, sj.halves(SIZE, SIZE), PTAGS)
    got = sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), PTAGS, chunk_size=2, progress=False,
                           method=method)
    assert_spectra_close(got, want)
    off = np.arange(PTAGS.n_bins) % 2 == 1
    assert all(np.all(np.asarray(v)[off] == 0.0) for v in got.values())  # exactly 0 off the lattice
    every = sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), PTAGS, chunk_size=2, progress=False,
                             method=method, one_period=False)
    assert_spectra_close(every, want)


def test_moments_reduction_equals_stored_coefficients(model_fn, images):
    bins = [4, 5, 9, 7]
    amp, moments, _ = sj.stream_tests(model_fn, iter([images[:2], images[2:]]), sj.halves(SIZE, SIZE), DESIGN, bins,
                                   chunk_size=2)
    coefs = []
    for image in images:
        acts = sj.probe(model_fn, sj.tag_frames(image, sj.halves(SIZE, SIZE), TAGS.freqs_hz, fps=40.0, n_frames=40))
        coefs.append(np.asarray(sj.fourier_coefficients(acts["stem/post"], bins)))
    want = sj.coefficient_moments(np.stack(coefs))
    for key in ("mean_re", "mean_im", "sxx", "syy", "sxy"):
        np.testing.assert_allclose(moments["stem/post"][key], want[key], rtol=1e-3, atol=1e-6, err_msg=key)
    assert float(moments["stem/post"]["n"]) == 5
    assert_spectra_close({"stem/post": amp["stem/post"]}, {"stem/post": numpy_spectra(
        model_fn, images, sj.halves(SIZE, SIZE), TAGS)["stem/post"]})


def test_loop_under_64_bit_types_keeps_its_float32_state(model_fn, images, reference):
    # A user who enables 64-bit types (globally or scoped) and passes float64 images: the accumulators
    # stay float32 and the spectra and moments equal the 32-bit run.
    with jax.enable_x64(True):
        got = sj.probe_dataset(model_fn, images.astype(np.float64), sj.halves(SIZE, SIZE), DESIGN, chunk_size=2,
                               progress=False)
        amp, moments, _ = sj.stream_tests(model_fn, images.astype(np.float64), sj.halves(SIZE, SIZE), DESIGN,
                                          [4, 5], chunk_size=2)
    assert_spectra_close(got, reference)
    assert_spectra_close({"stem/post": amp["stem/post"]}, {"stem/post": reference["stem/post"]})
    assert float(moments["stem/post"]["n"]) == 5


@pytest.mark.parametrize("kw", [{}, {"one_period": False}, {"frame_block": 10},
                                {"one_period": False, "frame_block": 8, "lattice_only": True}])
def test_measures_from_the_loop_equal_spectrum_measures(model_fn, images, kw):
    # The measures read from the accumulated rows equal those of the formed spectra, on every path.
    names = ("amplitude", "snr", "z", "bca")
    design = sj.Design(PTAGS, sj.NoiseConfig(n_neighbors=3, skip=1), max_order=3)
    masks = sj.halves(SIZE, SIZE)
    want = sj.spectrum_measures(sj.probe_dataset(model_fn, images, masks, design, progress=False, **kw),
                                design, measures=names)
    got = sj.probe_dataset(model_fn, images, masks, design, progress=False, measures=names, **kw)
    assert sorted(got) == sorted(want)
    for k in want:
        for n in names:
            a, b = np.asarray(want[k][n]), np.asarray(got[k][n])
            assert a.shape == b.shape and a.shape[0] == len(design.bins()[0])
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{k} {n}")
            np.testing.assert_array_equal(np.isinf(a), np.isinf(b), err_msg=f"{k} {n}")
            fin = np.isfinite(a)
            np.testing.assert_allclose(b[fin], a[fin], rtol=5e-3, atol=1e-7, err_msg=f"{k} {n}")
    with pytest.raises(ValueError, match="measures and relative"):
        sj.probe_dataset(model_fn, images, masks, design, progress=False, measures=names, relative=True)
    with pytest.raises(ValueError, match="measures must be"):
        sj.probe_dataset(model_fn, images, masks, design, progress=False, measures=("loudness",))


def test_a_user_reduction_runs_through_the_same_loop(model_fn, images):
    # Mean post-activation of every unit over images, with labels in the batch: no new loop needed.
    def contribution(example):
        acts = sj.flat_dict(model_fn(example["image"]))
        return {"sum": acts["stem/post"], "labels": example["label"].astype(jnp.float32), "count": jnp.ones(())}

    def init(example):
        return jax.tree.map(jnp.zeros_like, jax.eval_shape(contribution, jax.tree.map(
            lambda s: jnp.zeros(s.shape, s.dtype), example)))

    reduction = sj.Reduction(init, sj.summed(contribution), sj.sum_merge,
                             lambda s: (s["sum"] / s["count"], s["labels"], s["count"]))
    labels = np.arange(5, dtype=np.int32)
    mean, label_sum, count = sj.reduce_dataset({"image": images, "label": labels}, reduction, chunk_size=2,
                                               progress=False)
    want = np.mean([np.asarray(sj.flat_dict(model_fn(im))["stem/post"]) for im in images], 0)
    np.testing.assert_allclose(mean, want, rtol=1e-5, atol=1e-6)
    assert float(label_sum) == 10 and float(count) == 5


_SHARDED = textwrap.dedent("""
    import jax, numpy as np, pytest
    from jax.sharding import Mesh
    import ssvepjax as sj
    from ssvepjax.models import random_variables
    from test_streaming import assert_spectra_close

    assert jax.device_count() == 4, jax.devices()
    tags = sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
    design = sj.Design(tags, sj.NoiseConfig(n_neighbors=3, skip=1), max_order=3)
    model = sj.CifarResNet(8, width=4)
    variables = random_variables(model, jax.ShapeDtypeStruct((1, 12, 12, 3), np.float32))
    fn = sj.linen_fn(model, variables, capture_intermediates=False, train=False)
    images = np.random.default_rng(1).random((10, 12, 12, 3)).astype(np.float32)
    masks = sj.halves(12, 12)
    one = sj.probe_dataset(fn, images, masks, design, chunk_size=4, progress=False)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    # 10 images in chunks of 8 over 4 devices: the second chunk is 2 images and 6 pads.
    four = sj.probe_dataset(fn, images, masks, design, chunk_size=8, mesh=mesh, progress=False)
    # jax.make_mesh gives explicit axes by default: the same result.
    explicit = sj.probe_dataset(fn, images, masks, design, chunk_size=8, mesh=jax.make_mesh((4,), ("data",)),
                                progress=False)
    assert_spectra_close(explicit, one)
    grid = Mesh(np.array(jax.devices()).reshape(2, 2), ("model", "batch"))
    two = sj.probe_dataset(fn, (images[i:i + 3] for i in range(0, 10, 3)), masks, design,
                           chunk_size=2, mesh=grid, axis_name="batch", progress=False)
    assert_spectra_close(four, one)
    assert_spectra_close(two, one)
    amp1, mom1, _ = sj.stream_tests(fn, images, masks, design, [4, 5, 9], chunk_size=4)
    amp4, mom4, _ = sj.stream_tests(fn, images, masks, design, [4, 5, 9], chunk_size=8, mesh=mesh)
    for k in ("mean_re", "sxx", "sxy"):
        np.testing.assert_allclose(mom4["stem/post"][k], mom1["stem/post"][k], rtol=1e-3, atol=1e-6)
    # Fewer examples than devices: the missing ones are zero-weight padding, the result the mean of the 3.
    three = sj.probe_dataset(fn, images[:3], masks, design, chunk_size=2, progress=False)
    assert_spectra_close(sj.probe_dataset(fn, images[:3], masks, design, chunk_size=4, mesh=mesh, progress=False),
                         three)
    assert_spectra_close(sj.probe_dataset(fn, iter([images[:3]]), masks, design, chunk_size=4, mesh=mesh,
                                          progress=False), three)
    with pytest.raises(ValueError, match="multiple of the 4 device"):
        sj.probe_dataset(fn, images, masks, design, chunk_size=6, mesh=mesh, progress=False)
    print("SHARDED-OK")
""")


@pytest.mark.slow  # a subprocess with four fake devices: its own JAX start and compilations (32 s in CI)
def test_sharded_over_four_devices_equals_one_device():
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    # The child imports this file's helpers: the tests folder is on its PYTHONPATH (as pytest puts it on ours).
    tests = os.path.dirname(os.path.abspath(__file__))
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu", PYTHONPATH=path)
    code = _SHARDED
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SHARDED-OK" in done.stdout


def test_probe_dataset_resumes_from_checkpoint(model_fn, images, reference, tmp_path):
    masks, ckpt = sj.halves(SIZE, SIZE), tmp_path / "probe"

    def interrupted():  # two chunks of 2, then the job dies
        yield images[:4]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sj.probe_dataset(model_fn, interrupted(), masks, DESIGN, chunk_size=2, progress=False, checkpoint_dir=ckpt)
    # On resume the first two chunks are not run again: replace them by other images and the result
    # still equals the reference, because their sums come from the checkpoint.
    other = np.concatenate([np.zeros_like(images[:4]), images[4:]])
    got = sj.probe_dataset(model_fn, other, masks, DESIGN, chunk_size=2, progress=False, checkpoint_dir=ckpt)
    assert_spectra_close(got, reference)
    with pytest.raises(ValueError, match="other settings"):
        sj.probe_dataset(model_fn, images, masks, DESIGN, chunk_size=1, progress=False, checkpoint_dir=ckpt)
    with pytest.raises(ValueError, match="other settings"):  # another design: another reduction
        sj.probe_dataset(model_fn, images, masks, PTAGS, chunk_size=2, progress=False, checkpoint_dir=ckpt)
    with pytest.raises(ValueError, match="more than"):
        sj.probe_dataset(model_fn, images[:2], masks, DESIGN, chunk_size=2, progress=False, checkpoint_dir=ckpt)
    with pytest.raises(ValueError, match="checkpoint_every"):
        sj.probe_dataset(model_fn, images, masks, DESIGN, checkpoint_dir=ckpt, checkpoint_every=0)


@pytest.mark.parametrize("chunk_size", [0, -1, 1.5, True])
def test_bad_chunk_size(model_fn, images, chunk_size):
    with pytest.raises(ValueError, match="chunk_size"):
        sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), DESIGN, chunk_size=chunk_size)


def test_bad_dataset_input(model_fn, images):
    masks = sj.halves(SIZE, SIZE)
    one = Mesh(np.asarray(jax.devices()[:1]), ("model",))
    with pytest.raises(ValueError, match="no axis named 'data'"):
        sj.probe_dataset(model_fn, images, masks, DESIGN, mesh=one)
    with pytest.raises(ValueError, match="jax.sharding.Mesh"):
        sj.probe_dataset(model_fn, images, masks, DESIGN, mesh="data")
    with pytest.raises(ValueError, match="empty"):
        sj.probe_dataset(model_fn, images[:0], masks, DESIGN)
    with pytest.raises(ValueError, match="empty"):
        sj.probe_dataset(model_fn, iter([]), masks, DESIGN)
    with pytest.raises(ValueError, match="rank 4"):
        sj.probe_dataset(model_fn, images[0], masks, DESIGN, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sj.probe_dataset(model_fn, images * 3, masks, DESIGN, progress=False)
    with pytest.raises(ValueError, match="example shapes"):
        sj.probe_dataset(model_fn, [images[:2], images[:2, :6]], masks, DESIGN, progress=False)
    with pytest.raises(ValueError, match="iterable"):
        sj.probe_dataset(model_fn, 3, masks, DESIGN)
    with pytest.raises(ValueError, match="Design or a TagConfig"):
        sj.probe_dataset(model_fn, images, masks, "design")
    with pytest.raises(ValueError, match="method"):
        sj.probe_dataset(model_fn, images, masks, DESIGN, method="dft")
    with pytest.raises(ValueError, match="spatial shape"):
        sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE + 2), DESIGN, progress=False)
    with pytest.raises(ValueError, match="masks"):
        sj.probe_dataset(model_fn, images, masks[:1], DESIGN)
    with pytest.raises(ValueError, match="leading"):
        sj.reduce_dataset({"a": images, "b": np.zeros(3)}, sj.spectrum_reduction(model_fn, masks, DESIGN))
    with pytest.raises(ValueError, match="Reduction"):
        sj.reduce_dataset(images, "spectrum")
    with pytest.raises(ValueError, match="NaN"):
        sj.probe_dataset(lambda f: {"bad": jnp.log(f - 2.0)}, images, masks, DESIGN, progress=False)
    with pytest.raises(ValueError, match="pytree of arrays"):
        sj.probe_dataset(lambda f: {"bad": "text"}, images, masks, DESIGN, progress=False)


def test_enable_compilation_cache(tmp_path):
    old = jax.config.jax_compilation_cache_dir
    try:
        sj.enable_compilation_cache(str(tmp_path))
        assert jax.config.jax_compilation_cache_dir == str(tmp_path)
        with pytest.raises(ValueError, match="min_compile_time_s"):
            sj.enable_compilation_cache(str(tmp_path), min_compile_time_s=-1)
        with pytest.raises(ValueError, match="path"):
            sj.enable_compilation_cache(3)
    finally:
        jax.config.update("jax_compilation_cache_dir", old)


@pytest.mark.parametrize("one_period, lattice_only", [(True, False), (False, False), (False, True)])
def test_frame_blocks_equal_the_whole_series(model_fn, images, one_period, lattice_only):
    # Coefficients accumulated block by block of frames (the series never stored) give the same spectra and
    # relative-amplitude moments; on the periodic design, every frame with lattice bins only too.
    design = sj.Design(PTAGS, sj.NoiseConfig(n_neighbors=3, skip=1), max_order=3)
    kw = dict(chunk_size=2, progress=False, one_period=one_period, relative=True)
    want, rel = sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), design, **kw)
    got, rel_b = sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), design, frame_block=5,
                                  lattice_only=lattice_only, **kw)
    assert_spectra_close(got, want)
    for k in want:
        # A relative amplitude within rounding of the detection floor (about 1e-4 of the AC amplitude) may be kept
        # by one transform and zeroed by the other: up to ~2e-4 per image, 5 images summed.
        np.testing.assert_allclose(sj.stats.moments.moments_mean(rel_b[k]) * rel_b[k]["n"],
                                   sj.stats.moments.moments_mean(rel[k]) * rel[k]["n"], rtol=1e-4,
                                   atol=2e-3)


def test_frame_blocks_with_injected_noise_equal_the_whole_series(model_fn, images):
    kw = dict(chunk_size=3, progress=False, one_period=False, pixel_noise=0.05, noise_seed=3)
    want = sj.probe_dataset(model_fn, images[:3], sj.halves(SIZE, SIZE), TAGS, **kw)
    got = sj.probe_dataset(model_fn, images[:3], sj.halves(SIZE, SIZE), TAGS, frame_block=8, **kw)
    assert_spectra_close(got, want)
    with pytest.raises(ValueError, match="frame_block=7 must divide the 40 frames"):
        sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), TAGS, one_period=False, frame_block=7)
    with pytest.raises(ValueError, match="frame_block"):
        sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), TAGS, frame_block=0)
    with pytest.raises(ValueError, match="lattice_only needs frame_block"):
        sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), TAGS, lattice_only=True)
    with pytest.raises(ValueError, match="pixel_noise > 0 puts power on every bin"):
        sj.probe_dataset(model_fn, images, sj.halves(SIZE, SIZE), PTAGS, one_period=False, frame_block=8,
                         lattice_only=True, pixel_noise=0.1)
