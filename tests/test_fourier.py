"""Tests for ssvepjax.spectral.fourier: the one transform (plans, rows, coefficients, repeats, floor)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

import ssvepjax as sj
from ssvepjax.spectral.fourier import (
    bins_of_rows,
    block_finish,
    block_init,
    block_update,
    make_block_plan,
    make_plan,
    one_sided_scale,
    transform,
)


def numpy_coefficients(x):
    """One-sided rfft coefficients of ``x [T, n]`` in float64 (the definition)."""
    n = x.shape[0]
    return np.fft.rfft(np.asarray(x, np.float64), axis=0) * one_sided_scale(np.arange(n // 2 + 1), n)[:, None]


def spectrum(x, plan, limit=0.0):
    re, im = jax.jit(lambda v: transform(v, plan, limit, phase=True))(jnp.asarray(x))
    return np.asarray(bins_of_rows(re, plan)) + 1j * np.asarray(bins_of_rows(im, plan, imaginary=True))


def test_one_sided_scale():
    assert_close(one_sided_scale([0, 1, 5, 10], 20), [1 / 20, 2 / 20, 2 / 20, 1 / 20])
    assert_close(one_sided_scale([0, 1, 10], 21), [1 / 21, 2 / 21, 2 / 21])  # odd T: no Nyquist bin


@pytest.mark.parametrize("method", ["matmul", "fft"])
@pytest.mark.parametrize("n_frames", [2, 3, 16, 37, 40, 240])
def test_coefficients_equal_numpy_rfft(method, n_frames):
    rng = np.random.default_rng(n_frames)
    x = rng.standard_normal((n_frames, 9)).astype(np.float32)
    x[:, 0] = 0.0  # a dead unit
    x[:, 1] = 2.5  # a constant unit: DC only
    plan = make_plan(n_frames, method)
    assert_close(spectrum(x, plan), numpy_coefficients(x), rtol=1e-4, atol=1e-5)
    amp = jax.jit(lambda v: transform(v, plan, 0.0))(jnp.asarray(x))
    assert_close(bins_of_rows(amp, plan), np.abs(numpy_coefficients(x)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["matmul", "fft"])
@pytest.mark.parametrize(("period", "repeats"), [(80, 3), (20, 2), (7, 2)])
def test_one_period_gives_the_spectrum_of_all_periods(method, period, repeats):
    rng = np.random.default_rng(period)
    x = rng.standard_normal((period, 6)).astype(np.float32)
    x[:, 0] = 1.5  # a constant unit
    plan = make_plan(period * repeats, method, repeats)
    assert plan.n_rows == len(plan.row_scale) + 1 and plan.n_bins == period * repeats // 2 + 1
    got = spectrum(x, plan)
    assert_close(got, numpy_coefficients(np.tile(x, (repeats, 1))), rtol=1e-4, atol=1e-5)
    off = np.arange(plan.n_bins) % repeats != 0
    assert np.all(got[off] == 0.0)  # exactly 0 off the lattice


def test_a_cosine_gives_its_amplitude_and_phase():
    # 240 frames: 0.5 + 0.3 cos(2 pi 12 i / 240 + 0.4), through the two-stage matmul plan.
    t = np.arange(240)
    x = (0.5 + 0.3 * np.cos(2 * np.pi * 12 * t / 240 + 0.4)).astype(np.float32)[:, None]
    plan = make_plan(240, "matmul")
    assert plan.t1 > 1  # the two-stage factorisation, not a plain DFT matrix
    z = spectrum(x, plan, limit=1e-4)[:, 0]
    assert z[0] == pytest.approx(0.5, rel=1e-6)
    assert z[12] == pytest.approx(0.3 * np.exp(0.4j), rel=1e-5)
    assert np.all(np.delete(z, [0, 12]) == 0.0)  # below the detection floor: exactly 0
    coef = sj.fourier_coefficients(x[:, 0], [0, 12, 13])
    assert_close(coef, [0.5, 0.3 * np.exp(0.4j), 0.0], rtol=1e-5)


def test_amplitude_spectrum_with_repeats_and_methods():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 4, 2)).astype(np.float32)
    freqs, one = sj.amplitude_spectrum(x, fps=40.0, repeats=2)
    _, tiled = sj.amplitude_spectrum(np.tile(x, (2, 1, 1)), fps=40.0)
    assert len(freqs) == 21 and freqs[1] == pytest.approx(1.0)
    assert_close(one, tiled, rtol=1e-4, atol=1e-6)
    _, mm = sj.amplitude_spectrum(np.moveaxis(x, 0, 2), fps=40.0, axis=2, method="matmul")
    _, ff = sj.amplitude_spectrum(np.moveaxis(x, 0, 2), fps=40.0, axis=2, method="fft")
    assert_close(mm, ff, rtol=1e-4, atol=1e-6)


def test_fourier_coefficients_with_repeats():
    x = np.random.default_rng(4).standard_normal((20, 3)).astype(np.float32)
    got = sj.fourier_coefficients(x, [0, 1, 2, 4, 20], repeats=2)
    want = numpy_coefficients(np.tile(x, (2, 1)))[[0, 1, 2, 4, 20]]
    assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert np.all(np.asarray(got)[1] == 0)  # bin 1 is off the lattice of 2 repeats


def test_detection_floor_zeroes_small_coefficients_only():
    t = np.arange(40)
    x = np.cos(2 * np.pi * 4 * t / 40) + 5e-5 * np.cos(2 * np.pi * 9 * t / 40)
    amp_kept = np.asarray(sj.amplitude_spectrum(x, 40.0, detection_limit=0.0)[1])
    amp = np.asarray(sj.amplitude_spectrum(x, 40.0)[1])
    assert amp_kept[9] == pytest.approx(5e-5, rel=1e-2) and amp[9] == 0.0
    assert amp[4] == pytest.approx(1.0)


def test_bad_input():
    with pytest.raises(ValueError, match="repeats"):
        make_plan(240, "matmul", 7)
    with pytest.raises(ValueError, match="method"):
        make_plan(240, "dft")
    with pytest.raises(ValueError, match="detection_limit"):
        sj.amplitude_spectrum(np.ones(8), 8.0, detection_limit=1.5)
    with pytest.raises(ValueError, match="bins"):
        sj.fourier_coefficients(np.ones(8), [5])
    with pytest.raises(ValueError, match="complex"):
        sj.fourier_coefficients(np.ones(8, np.complex64), [1])
    with pytest.raises(ValueError, match="samples"):
        transform(jnp.ones((7, 2)), make_plan(8, "fft"))
    with pytest.raises(ValueError, match="bins"):
        sj.repeated_spectrum(np.ones(5), 10, 2)


def accumulate(x, plan, detection_limit=0.0):
    """``block_finish`` of ``x [F, n]`` fed block by block (a scan, as the probe runs it)."""
    def run(v):
        def step(acc, i):
            return block_update(acc, jax.lax.dynamic_slice_in_dim(v, i * plan.block, plan.block), i * plan.block,
                                plan), None
        acc, _ = jax.lax.scan(step, block_init(plan, v.shape[1]), jnp.arange(plan.n_blocks))
        return block_finish(acc, plan, detection_limit, 0.0 if not detection_limit else 1e-7, phase=True)
    re, im = jax.jit(run)(jnp.asarray(x))
    return np.asarray(re) + 1j * np.asarray(im)


@pytest.mark.parametrize(("n_frames", "step", "block"), [(240, 3, 16), (240, 3, 48), (60, 1, 12), (45, 3, 5)])
def test_block_accumulation_equals_numpy_rfft(n_frames, step, block):
    # ANY series (not periodic), a lattice of bins or some bins, accumulated block by block of frames.
    rng = np.random.default_rng(n_frames + step)
    x = rng.standard_normal((n_frames, 7)).astype(np.float32) + np.linspace(0, 3, 7, dtype=np.float32)
    x[:, 0] = 2.0  # a constant unit
    for bins in (tuple(range(0, n_frames // 2 + 1, step)), (1, 5, n_frames // 2)):
        got = accumulate(x, make_block_plan(n_frames, bins, block))
        assert_close(got, numpy_coefficients(x)[list(bins)], rtol=1e-4, atol=2e-5)


def test_block_accumulation_floors_like_the_whole_series():
    # The detection floor from the accumulated sums: blocks zero exactly the coefficients the whole-series
    # transform zeroes.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 5)).astype(np.float32)
    t = np.arange(60)
    # cosines of amplitude 1 and 0.005 on bins 1 and 2: the floor (1e-2 of the AC amplitude) keeps one only
    x[:, 1] = np.cos(2 * np.pi * t / 60) + 0.005 * np.cos(4 * np.pi * t / 60)
    x[:, 2] = 3.0 + 1e-9 * t  # an AC content under float32's resolution of its peak
    bins = tuple(range(31))
    whole = make_plan(60, "matmul")
    want = np.asarray(bins_of_rows(jax.jit(lambda v: transform(v, whole, 1e-2))(jnp.asarray(x)), whole))
    got = np.abs(accumulate(x, make_block_plan(60, bins, 12), 1e-2))
    assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert np.array_equal(got[1:] == 0, want[1:] == 0) and (got[1:, 2] == 0).all() and (got[1:, 0] > 0).any()
    assert got[1, 1] > 0.99 and got[2, 1] == 0
