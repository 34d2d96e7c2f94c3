"""Tag attribution and the part baselines: analytic cases, a NumPy reference, bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.explain import attribution as A
from ssvepjax.explain import part_baselines as PB

H = W = 6


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(0.2, 1.0, (n, H, W, 1)).astype(np.float32)


def _linear(weights, masks):
    m = jnp.asarray(masks, jnp.float32)
    w = jnp.asarray(weights, jnp.float32)

    def fn(x):  # [B, H, W, C] -> [B, 2]: logit 0 = sum_p w_p * (sum of part p), logit 1 = its negative
        s = jnp.einsum("bhwc,phw->bp", x, m) @ w
        return jnp.stack([s + 1.0, -s], -1)
    return fn


def _product(masks):
    m = jnp.asarray(masks, jnp.float32)

    def fn(x):
        s = jnp.einsum("bhwc,phw->bp", x, m)
        return jnp.stack([s[:, 0] * s[:, 1], s.sum(1)], -1)
    return fn


def _part_sums(x, masks):
    return np.einsum("nhwc,phw->np", x.astype(np.float64), masks.astype(np.float64))


@pytest.mark.parametrize("masks_fn,weights", [(lambda: sj.halves(H, W), (0.7, -1.3)),
                                              (lambda: sj.quadrants(H, W), (0.5, -0.2, 1.1, 0.0))])
def test_linear_gives_weights_times_depth(masks_fn, weights):
    masks = masks_fn()
    x = _images()
    fn = _linear(weights, masks)
    att = A.tag_attribution(fn, x, masks, 0)
    expect = np.asarray(weights)[None] * _part_sums(x, masks)
    # signed = the fundamental's coefficient against the stimulus phase / depth: the weight (times the part's sum)
    np.testing.assert_allclose(att.signed, expect, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(att.amplitude, np.abs(expect) * att.depth, rtol=1e-4, atol=1e-4)
    assert att.depth == 0.25 and att.forward_passes == A.attribution_tags(len(masks)).period_frames
    np.testing.assert_allclose(att.im_share, 0.0, atol=1e-8)
    # the other logit is the negative: the sign flips, the amplitude does not
    neg = A.tag_attribution(fn, x, masks, 1)
    np.testing.assert_allclose(neg.signed, -expect, rtol=1e-4, atol=1e-4)
    # an additive output: occlusion = Shapley = IG = gradient x input = the weights times the part sums
    res = PB.part_attributions(PB.PART_METHODS, fn, x, masks, 0, batch_size=2)
    for name, r in res.items():
        np.testing.assert_allclose(r["values"], expect, rtol=1e-4, atol=1e-4, err_msg=name)
    assert res["shapley"]["forward_passes"] == 2 ** len(masks)
    assert res["occlusion"]["forward_passes"] == len(masks) + 1


def test_signed_follows_the_stimulus_phase():
    masks = sj.halves(H, W)
    x = _images(2)
    fn = _linear((1.0, -2.0), masks)
    tags = sj.TagConfig((6.0, 7.5), phase=1.0, min_gain=0.2)
    att = A.tag_attribution(fn, x, masks, 0, tags)
    np.testing.assert_allclose(att.signed, np.array([1.0, -2.0]) * _part_sums(x, masks), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(att.phase[:, 0], 0.0, atol=1e-4)
    np.testing.assert_allclose(np.abs(att.phase[:, 1]), np.pi, atol=1e-4)


def test_product_has_intermodulation_and_numpy_reference():
    masks = sj.halves(H, W)
    x = _images(2)
    fn = _product(masks)
    att = A.tag_attribution(fn, x, masks, 0, max_order=4)
    assert np.all(att.im_share > 0.01)
    assert np.all(att.intermodulation > 0)
    # NumPy reference: the output over one period, its DFT at the tag and IM bins
    tags = A.attribution_tags(2)
    g = np.asarray(tags.gains(one_period=True), np.float64)
    s = _part_sums(x, masks)  # [n, 2]
    y = (s[:, None, 0] * g[None, :, 0]) * (s[:, None, 1] * g[None, :, 1])  # [n, F]
    f = y.shape[1]
    coef = 2 / f * np.fft.rfft(y, axis=1)
    b1, b2 = (b // tags.repeats for b in tags.tag_bins)
    stim = np.exp(-1j * np.pi / 2)
    np.testing.assert_allclose(att.signed[:, 0], np.real(coef[:, b1] * np.conj(stim)) / 0.25, rtol=1e-4)
    np.testing.assert_allclose(att.amplitude[:, 1], np.abs(coef[:, b2]), rtol=1e-4)
    im = np.abs(coef[:, b1 + b2]) + np.abs(coef[:, b2 - b1])
    np.testing.assert_allclose(att.intermodulation[:, 0], im, rtol=1e-4)  # a product has only order-2 IM
    power_im = np.abs(coef[:, b1 + b2]) ** 2 + np.abs(coef[:, b2 - b1]) ** 2
    power_h = np.abs(coef[:, [b1, b2, 2 * b1, 2 * b2]]) ** 2
    np.testing.assert_allclose(att.im_share, power_im / (power_im + power_h.sum(1)), rtol=1e-4)
    # Shapley splits the interaction evenly; occlusion gives each part the whole product
    sh = PB.shapley(fn, x, masks, 0)
    occ = PB.occlusion(fn, x, masks, 0)
    np.testing.assert_allclose(sh, 0.5 * (s[:, :1] * s[:, 1:]).repeat(2, 1), rtol=1e-4)
    np.testing.assert_allclose(occ, (s[:, :1] * s[:, 1:]).repeat(2, 1), rtol=1e-4)


def test_log_prob_and_vectors_of_targets():
    masks = sj.halves(H, W)
    x = _images(3)
    fn = _linear((0.3, -0.1), masks)
    t = np.array([0, 1, 0])
    att = A.tag_attribution(fn, x, masks, t, output="log_prob", batch_size=2)
    one = [A.tag_attribution(fn, x[i:i + 1], masks, int(t[i]), output="log_prob").signed[0] for i in range(3)]
    np.testing.assert_allclose(att.signed, np.stack(one), rtol=1e-4, atol=1e-5)
    assert np.all(att.im_share > 0)  # log-softmax is not linear in the logits


def test_default_tags_are_collision_free():
    for p in (1, 2, 3, 4):
        A.check_tag_collisions(A.attribution_tags(p), A.default_max_order(p))
    with pytest.raises(ValueError, match="harmonic 5"):  # 1.5 Hz's fifth harmonic is 7.5 Hz, whatever the order
        A.check_tag_collisions(sj.TagConfig((1.5, 7.5, 19.5, 43.5)), 2)


def test_bad_input():
    masks = sj.halves(H, W)
    x = _images(2)
    fn = _linear((1.0, 1.0), masks)
    with pytest.raises(ValueError, match="target"):
        A.tag_attribution(fn, x, masks, 2)
    with pytest.raises(ValueError, match="target"):
        PB.occlusion(fn, x, masks, -1)
    overlap = masks.copy()
    overlap[0, :, -1] = True
    with pytest.raises(ValueError, match="masks overlap"):
        A.tag_attribution(fn, x, overlap, 0)
    empty = masks.copy()
    empty[1] = False
    with pytest.raises(ValueError, match="masks"):
        A.tag_attribution(fn, x, empty, 0)
    with pytest.raises(ValueError, match="tags"):  # 12 Hz is the second harmonic of 6 Hz
        A.tag_attribution(fn, x, masks, 0, sj.TagConfig((6.0, 12.0)))
    with pytest.raises(ValueError, match="tags"):  # 9 Hz = 2*6 - 3 (order 3)
        A.check_tag_collisions(sj.TagConfig((3.0, 6.0 + 1.5, 9.0)), 3)
    with pytest.raises(ValueError, match="masks"):
        PB.shapley(fn, np.zeros((1, 6, 10, 1), np.float32), sj.stripes(6, 10, 5), 0)
    with pytest.raises(ValueError, match="output"):
        A.tag_attribution(fn, x, masks, 0, output="prob")
