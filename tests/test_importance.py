import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.importance import apply_masks, keep_masks, l1_importance, pruned_fraction, tag_importance

TAGS = sj.TagConfig((6.0, 7.5), 120.0, 240)


def _tiny():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = model.init(jax.random.key(0), jnp.ones((1, 8, 8, 1)))
    return model, v


def test_l1_importance_matches_kernels():
    _, v = _tiny()
    imp = l1_importance(v)
    assert set(imp) == set(sj.conv_layer_names(8))
    k = np.asarray(v["params"]["stem"]["conv"]["kernel"])
    np.testing.assert_allclose(imp["stem"], np.abs(k).sum((0, 1, 2)), rtol=1e-6)


def test_keep_masks_layer_and_global():
    imp = {"a": np.array([3.0, 1.0, 2.0, 0.5]), "b": np.array([0.1, 0.2])}
    m = keep_masks(imp, 0.5)
    assert m["a"].tolist() == [True, False, True, False] and m["b"].tolist() == [False, True]
    g = keep_masks(imp, 0.5, scope="global")
    assert g["b"].sum() == 1  # every layer keeps one filter
    assert sum(int((~x).sum()) for x in g.values()) == 3
    with pytest.raises(ValueError, match="fraction"):
        keep_masks(imp, 1.0)
    with pytest.raises(ValueError, match="scope"):
        keep_masks(imp, 0.1, scope="net")


def test_apply_masks_silences_pruned_filters():
    model, v = _tiny()
    masks = {"stem": np.array([True, False, True, False])}
    pv = apply_masks(v, masks)
    fn = sj.linen_fn(model, pv, capture_intermediates=False, train=False)
    img = np.random.default_rng(0).uniform(size=(8, 8, 1)).astype(np.float32)
    out = sj.probe(fn, sj.tag_frames(img, sj.halves(8, 8), (6.0, 7.5)))
    stem = np.asarray(out["stem/post"])
    assert np.all(stem[..., 1] == 0) and np.all(stem[..., 3] == 0) and np.abs(stem[..., 0]).max() > 0
    assert pruned_fraction(masks, v)["filters"] == 0.5
    with pytest.raises(ValueError, match="unknown layer"):
        apply_masks(v, {"nope": np.ones(4, bool)})
    with pytest.raises(ValueError, match="shape"):
        apply_masks(v, {"stem": np.ones(3, bool)})


def test_tag_importance_ranks_responsive_filters_first():
    # filter 0 responds at f1, filter 1 at nothing (constant), filter 2 at f1 and f1+f2
    def fn(frame):
        left, right = frame[0, 0, 0], frame[0, 1, 0]
        return {"layer": jnp.stack([left, jnp.float32(0.3), (left + right) ** 2])[None, None]}

    images = np.random.default_rng(1).uniform(0.3, 1.0, size=(2, 1, 2, 1)).astype(np.float32)
    res = sj.measure(sj.probe_dataset(fn, images, sj.halves(1, 2), TAGS, progress=False))
    imp = tag_importance(res)["layer"]
    assert imp[1] == 0 and imp[0] > 0 and imp[2] > 0
    im_only = tag_importance(res, kinds=("intermodulation",))["layer"]
    assert im_only[0] == 0 and im_only[2] > 0
    with pytest.raises(ValueError, match="score"):
        tag_importance(res, score="power")
