"""The one entry point: every method's numbers against a NumPy reference on a tiny model, the registry, bad input.

Mean activation, HRank and Taylor are checked against NumPy in ``test_scores_activity.py``, the decision score
against finite differences in ``test_scores_decision.py``.
"""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, jit_init, numpy_spectra

import ssvepjax as sj
from ssvepjax import scores as S

# Tags on bins 12 and 15 of 240 frames: components on a lattice of step 3. Noise windows keep the other components
# (exclude="none"), so z is finite and the first layer's filters respond at some components only.
DESIGN = sj.Design(sj.TagConfig((6.0, 7.5), 120.0, 240), max_order=2, significance="z",
                   noise=sj.NoiseConfig(exclude="none"))


@pytest.fixture(scope="module")
def tiny(scored_tiny):
    return scored_tiny


def _noise(a, design):
    """``(mean, sd)`` ``[m, ...]`` of each component bin's noise window in a spectrum ``a [K, ...]`` (NaN if short)."""
    n, skip, k = design.noise.n_neighbors, design.noise.skip, a.shape[0]
    excluded = set(design.excluded_bins())
    mean, sd = [], []
    for b in design.bins()[0]:
        window = [b + o for o in (*range(-skip - n, -skip), *range(skip + 1, skip + n + 1))]
        window = [i for i in window if 1 <= i <= k - 1 and i not in excluded]
        ok = len(window) >= n
        mean.append(a[window].mean(0) if ok else np.full(a.shape[1:], np.nan))
        sd.append(a[window].std(0) if ok else np.full(a.shape[1:], np.nan))
    return np.stack(mean), np.stack(sd)


def test_tag_methods_match_numpy(tiny):
    """BCA+ and amplitude sums of every kind, from float64 NumPy spectra of every frame."""
    model, v, images, _ = tiny
    images = images[:3]
    layers = ["stem", "stage3_block0/conv2"]
    names = S.TAG_METHODS + ("tag1", "tag2") + S.AMPLITUDE_METHODS
    got = S.importance(names, model, v, images, layers=layers, design=DESIGN)
    fn = sj.linen_fn(model, v, capture_intermediates=False, train=False, include=[f"{n}/post" for n in layers])
    spectra = numpy_spectra(fn, images, sj.halves(8, 8), DESIGN.tags)
    bins = DESIGN.bins()[0]
    for name in layers:
        neuron = spectra[f"{name}/post"]  # [K, h, w, c]
        filt = neuron.reshape(len(neuron), -1, neuron.shape[-1]).mean(1)  # a filter: the mean of its neurons
        mu, _ = _noise(filt, DESIGN)
        bca = np.nan_to_num(filt[bins] - mu, nan=0.0)
        mu_n, sd_n = _noise(neuron, DESIGN)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (neuron[bins] - mu_n) / sd_n
        share = (np.nan_to_num(z, nan=-np.inf) > DESIGN.noise.z_threshold).reshape(len(bins), -1, filt.shape[1])
        for m in names:
            info = S.score_info(m)
            rows = S.component_rows(DESIGN, info.kind)
            if info.measure == "amplitude":
                want = filt[bins][rows].sum(0)
            elif info.kind == "significant":
                want = np.maximum(bca * share.mean(1), 0.0).sum(0)
            else:
                want = np.maximum(bca, 0.0)[rows].sum(0)
            assert_close(got[m][name], want, rtol=1e-4, atol=1e-6 * np.abs(filt).max()), (m, name)
    assert all(got[m][n].max() > 0 for m in ("tag_all", "tag_significant", "amplitude_all") for n in layers)
    assert np.all(got["tag_significant"]["stem"] < 0.8 * got["tag_all"]["stem"])  # the weights are not all 1


def test_per_image_rows_of_the_tag_and_random_methods(tiny):
    model, v, images, _ = tiny
    layers = ["stem"]
    rows = S.importance(("tag_all", "amplitude_fundamental", "random"), model, v, images[:2], layers=layers,
                        design=DESIGN, per_image=True, seed=4)
    for i in range(2):
        one = S.importance(("tag_all", "amplitude_fundamental"), model, v, images[i:i + 1], layers=layers,
                           design=DESIGN)
        for m in one:
            np.testing.assert_array_equal(rows[m]["stem"][i], one[m]["stem"])
    c = v["params"]["stem"]["conv"]["kernel"].shape[-1]
    np.testing.assert_array_equal(rows["random"]["stem"], np.random.default_rng(4).uniform(size=(2, c)))


def test_registry_lists_every_method():
    assert set(S.methods(3)) == set(S.SCORES) | {"tag1", "tag2", "tag3"}
    for m in S.methods(2):
        info = S.score_info(m)
        assert info.family in ("weights", "activity", "tags", "decision") and info.reference
        assert (info.kind is None) == (info.family != "tags")
    assert S.score_info("tag_harmonic").kind == "harmonic_series" and S.score_info("tag_harmonic").measure == "bca+"
    assert S.score_info("tag2") == S.Score("tags", S.score_info("tag1").needs, True, S.score_info("tag1").reference,
                                           "tag2", "bca+")
    with pytest.raises(ValueError, match="unknown method"):
        S.score_info("tag0")


class _Dense(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


def test_bad_input_raises(tiny):
    model, v, images, labels = tiny
    with pytest.raises(ValueError, match="unknown method"):
        S.importance("magnitude", model, v, images)
    with pytest.raises(ValueError, match="need images"):
        S.importance("hrank", model, v)
    with pytest.raises(ValueError, match="labels"):
        S.importance("taylor", model, v, images)
    with pytest.raises(ValueError, match="NaN"):
        S.importance("mean_activation", model, v, np.full_like(images, np.nan))
    with pytest.raises(ValueError, match="site"):
        S.importance("hrank", model, v, images, site="middle")
    dense = _Dense()
    dv = jit_init(dense, 0, jnp.ones((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="no conv layer"):
        S.importance("l1", dense, dv)
    with pytest.raises(ValueError, match="kind"):
        S.tag_scores(lambda f: {"a": f}, images[:1], sj.halves(8, 8), sj.Design(), "tag3", measure="bca+")
    with pytest.raises(ValueError, match="chunk_size"):
        sj.reduce_dataset({"image": images}, S.mean_activation_reduction(S.sown_activations(model, v)), chunk_size=0)
    with pytest.raises(ValueError, match="no per-image rows"):
        S.importance(("l1", "tag_significant"), model, v, images, per_image=True)
    with pytest.raises(ValueError, match="need the model"):
        S.importance("taylor", None, v, images, labels)
    with pytest.raises(ValueError, match="model or fn"):
        S.importance("mean_activation", None, v, images)
