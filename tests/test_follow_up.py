"""The follow-up paper's pipeline: box folders (VOC XML), per-image selection metrics, their summary, the experiment
(``ssvepjax.experiments.follow_up``) and its script."""

import importlib.util
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close
from PIL import Image
from scipy import stats as sps

import ssvepjax as sj
from ssvepjax.experiments import follow_up as FU
from ssvepjax.explain import box_evaluation as B
from ssvepjax.explain import cams as C
from ssvepjax.explain import metrics as M
from ssvepjax.explain import selection as S
from ssvepjax.scores import l1_scores, tag_scores
from ssvepjax.testing.box_folder import SYNTHETIC_CLASSES, write_box_folder

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYER = "stage3_block0/conv2"  # the tiny CifarResNet-8's last conv: [2, 2, 16] on 8 x 8 images


def script():
    spec = importlib.util.spec_from_file_location("exp_follow_up", ROOT / "experiments" / "follow_up.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def voc(h, w, objects):
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
                   f"<ymax>{y1}</ymax></bndbox></object>" for n, (x0, y0, x1, y1) in objects)
    return f"<annotation><size><width>{w}</width><height>{h}</height><depth>3</depth></size>{objs}</annotation>"


def test_box_folder_resizes_images_and_boxes(tmp_path):
    img = np.zeros((50, 100, 3), np.uint8)
    img[..., 0] = 200
    Image.fromarray(img).save(tmp_path / "a.png")
    # Two objects of the image's class (the first named) and a distractor of another class.
    (tmp_path / "a.xml").write_text(voc(50, 100, [("n1", (10, 5, 29, 25)), ("n2", (0, 0, 99, 49)),
                                                  ("n1", (40, 10, 45, 14))]))
    got = sj.load_box_folder(tmp_path, 20)
    assert got.images.shape == (1, 20, 20, 3) and got.images.dtype == np.float32
    assert_close(got.images[0, ..., 0], np.full((20, 20), 200 / 255))
    # Union of the n1 boxes, x in [10, 46) of 100 and y in [5, 26) of 50 (VOC corners are inclusive), scaled by
    # 20/100 and 20/50 to [2, 9.2) and [2, 10.4), outward to whole pixels.
    assert got.boxes.tolist() == [[2, 2, 11, 10]]
    assert got.classes == ("n1",) and got.names == ("a",) and got.original_sizes.tolist() == [[50, 100]]
    (tmp_path / "ann").mkdir()
    (tmp_path / "a.xml").rename(tmp_path / "ann" / "a.xml")
    assert sj.load_box_folder(tmp_path, 20, annotations=tmp_path / "ann").boxes.tolist() == [[2, 2, 11, 10]]


@pytest.mark.parametrize("xml, message", [
    ("<annotation><size><width>10</width><height>10</height></size></annotation>", "no <object>"),
    (voc(10, 10, [("n1", (2, 2, 12, 5))]), "outside"),
    ("<annotation><object>", "not valid XML"),
    ("<annotation><object><name>n1</name></object></annotation>", "no <size>"),
    (voc(10, 10, [("n1", (2, "x", 4, 5))]), "not a number"),
])
def test_bad_annotations_name_the_file(tmp_path, xml, message):
    path = tmp_path / "bad.xml"
    path.write_text(xml)
    with pytest.raises(ValueError, match=message) as e:
        sj.data.read_voc_boxes(path)
    assert "bad.xml" in str(e.value)


def test_box_folder_bad_input(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        sj.load_box_folder(tmp_path / "missing", 32)
    with pytest.raises(ValueError, match="no image"):
        sj.load_box_folder(tmp_path, 32)
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "b.jpg")
    with pytest.raises(ValueError, match="no annotation"):
        sj.load_box_folder(tmp_path, 32)
    (tmp_path / "b.xml").write_text(voc(12, 10, [("n1", (1, 1, 3, 3))]))  # width and height swapped
    with pytest.raises(ValueError, match="10 x 12"):
        sj.load_box_folder(tmp_path, 32)
    with pytest.raises(ValueError, match="size"):
        sj.load_box_folder(tmp_path, 4)


def test_generated_folder_boxes_hold_their_objects(tmp_path):
    paths = write_box_folder(tmp_path, 8, seed=3)
    n_objects = 0
    for path in paths:
        (h, w), objects = sj.data.read_voc_boxes(path.with_suffix(".xml"))
        img = np.asarray(Image.open(path), np.float32) / 255
        assert img.shape == (h, w, 3)
        for o in objects:  # each box is tight around an ellipse of its class colour
            n_objects += 1
            centre = img[(o.ymin + o.ymax) // 2, (o.xmin + o.xmax) // 2]
            assert np.abs(centre - np.asarray(SYNTHETIC_CLASSES[o.name])).max() < 0.25, (path, o, centre)
            outside = img[max(o.ymin - 1, 0), max(o.xmin - 1, 0)]  # the corner beyond the box: background
            assert np.abs(outside - np.asarray(SYNTHETIC_CLASSES[o.name])).max() > 0.1
    assert n_objects > len(paths)  # second instances and distractors occur
    got = sj.load_box_folder(tmp_path, 48)
    assert got.images.shape == (8, 48, 48, 3) and len(set(got.original_sizes[:, 0])) > 1
    assert all(0 <= y0 < y1 <= 48 and 0 <= x0 < x1 <= 48 for y0, x0, y1, x1 in got.boxes)


def test_linen_tap_preprocess_equals_a_normalised_input(tiny):
    model, variables, images = tiny
    prep = sj.models.normalize([0.5], [0.25])
    tap = C.linen_tap(model, variables, LAYER, (8, 8, 1), preprocess=prep, train=False)
    plain = C.linen_tap(model, variables, LAYER, (8, 8, 1), train=False)
    got = tap.fn(jnp.asarray(images[0]), 3)
    want = plain.fn(prep(jnp.asarray(images[0])), 3)
    for a, b in zip(got, want):
        assert_close(a, b)
    with pytest.raises(ValueError, match="preprocess"):
        C.linen_tap(model, variables, LAYER, (8, 8, 1), preprocess="imagenet", train=False)


@pytest.fixture(scope="module")
def small_design():
    return sj.Design(sj.TagConfig(freqs_hz=(10.0, 15.0), fps=120.0, n_frames=24), max_order=2)


def test_selection_scores_are_the_selection_functions(tiny, small_design):
    model, variables, images = tiny
    fn = sj.linen_fn(model, variables, capture_intermediates=True, include=[LAYER], train=False)
    masks = sj.halves(8, 8)
    shared = B.selection_scores(fn, variables, LAYER, images, masks, small_design, per_image=False)
    own = B.selection_scores(fn, variables, LAYER, images, masks, small_design, per_image=True)
    assert set(shared) == {*(f"tag:{k}" for k in B.TAG_SELECTORS), "activation", "l1"}
    assert set(own) == {*(f"tag-image:{k}" for k in B.TAG_SELECTORS), "activation-image"}
    assert all(np.shape(v) == (16,) for v in shared.values()) and all(np.shape(v) == (3, 16) for v in own.values())
    assert_close(shared["tag:combined"], tag_scores(fn, images, masks, small_design, "all", measure="amplitude")[LAYER])
    assert_close(own["tag-image:harmonic"][1],
                 tag_scores(fn, images[1:2], masks, small_design, "higher_harmonic", measure="amplitude")[LAYER])
    assert_close(shared["l1"], l1_scores(variables, [LAYER])[LAYER])
    assert_close(own["activation-image"].mean(0), shared["activation"])
    with pytest.raises(ValueError, match="not an output"):
        B.selection_scores(fn, variables, "stage1_block0/conv1", images, masks, small_design, per_image=True)


def test_evaluate_selections_all_filters_and_k_equal_to_c(tiny):
    model, variables, images = tiny
    tap = C.linen_tap(model, variables, LAYER, (8, 8, 1), train=False)
    boxes = np.array([[0, 0, 4, 4], [2, 3, 8, 8], [1, 1, 5, 7]])
    targets = np.array([1, 4, 7])
    rng = np.random.default_rng(0)
    scores = {"own": rng.random((3, 16)), "shared": rng.random(16)}
    prob = jax.jit(lambda x: jax.nn.softmax(model.apply(variables, x, train=False)))
    got = B.evaluate_selections(tap, images, boxes, targets, scores, [4, 16], key=jax.random.key(0), n_random=3,
                                prob_fn=prob, curve_ks=[4], curve_steps=4, batch_size=2)
    for method in C.METHODS:
        maps = C.class_activation_maps(tap, images, targets, method)
        want = {"energy_in_box": M.energy_in_box(maps, boxes), "concentration": M.energy_concentration(maps),
                "iou": M.localisation(maps, boxes)["iou"]}
        for metric, v in want.items():
            assert_close(got[f"{method}|all|16|{metric}"], v)
            for sel in ("own", "shared", "random"):  # 16 of 16 filters is the map of every filter
                assert_close(got[f"{method}|{sel}|16|{metric}"], v)
        top = S.top_k(scores["own"], 4)
        assert_close(got[f"{method}|own|4|energy_in_box"],
                     M.energy_in_box(C.class_activation_maps(tap, images, targets, method, top), boxes))
        for metric in B.CURVE_METRICS:  # curves for 'all' and every selector at k = 4, none at 16
            for sel in ("all", "own", "shared", "random"):
                k = 16 if sel == "all" else 4
                v = got[f"{method}|{sel}|{k}|{metric}"]
                assert v.shape == (3,) and np.all((v >= 0) & (v <= 1))
            assert f"{method}|own|16|{metric}" not in got
    # n_random=0: no random selector (a caller's own draws are selectors); curve_key: the curves' tie-breaking
    own = B.evaluate_selections(tap, images, boxes, targets, scores, [4], key=jax.random.key(0), n_random=0,
                                prob_fn=prob, curve_ks=[4], curve_steps=4, curve_key=jax.random.key(5), batch_size=2)
    assert not any("|random|" in name for name in own)
    for name, v in own.items():
        if name.rsplit("|", 1)[1] in B.CURVE_METRICS:  # the curves' ties break by curve_key
            assert v.shape == (3,) and np.all((v >= 0) & (v <= 1))
        else:
            assert_close(v, got[name])  # the same maps
    with pytest.raises(ValueError, match="n_random"):
        B.evaluate_selections(tap, images, boxes, targets, scores, [4], key=jax.random.key(0), n_random=-1)
    with pytest.raises(ValueError, match="ks"):
        B.evaluate_selections(tap, images, boxes, targets, scores, [17], key=jax.random.key(0))
    with pytest.raises(ValueError, match="scores"):
        B.evaluate_selections(tap, images, boxes, targets, {"x": np.ones(5)}, [4], key=jax.random.key(0))
    with pytest.raises(ValueError, match="targets"):
        B.evaluate_selections(tap, images, boxes, targets[:2], scores, [4], key=jax.random.key(0))


def test_summarize_pairs_by_image_and_states_a_verdict():
    rng = np.random.default_rng(1)
    rnd = rng.random(200)
    values = {"gradcam|random|4|energy_in_box": rnd,
              "gradcam|up|4|energy_in_box": rnd + 0.1 + rng.normal(0, 0.01, 200),
              "gradcam|down|4|energy_in_box": rnd - 0.1 + rng.normal(0, 0.01, 200),
              "gradcam|same|4|energy_in_box": rnd.copy(),
              "gradcam|noisy|4|energy_in_box": rnd + rng.normal(0, 1.0, 200),
              "gradcam|all|16|energy_in_box": rnd}
    table, versus = B.summarize(values)
    rows = {(r["selector"], r["k"]): r for r in table}
    assert rows[("up", 4)]["energy_in_box"] == pytest.approx(values["gradcam|up|4|energy_in_box"].mean())
    assert rows[("up", 4)]["energy_in_box_se"] == pytest.approx(
        values["gradcam|up|4|energy_in_box"].std(ddof=1) / np.sqrt(200))
    vs = {r["selector"]: r for r in versus}
    assert set(vs) == {"up", "down", "same", "noisy"}  # neither 'all' nor random against itself
    assert vs["up"]["verdict"] == "beats" and vs["down"]["verdict"] == "loses"
    assert vs["same"]["verdict"] == "inconclusive" and vs["same"]["minus_random"] == 0
    d = values["gradcam|noisy|4|energy_in_box"] - rnd
    assert vs["noisy"]["minus_random"] == pytest.approx(d.mean())
    # the verdict rule's interval: paired t over the 200 images at level 0.05
    assert vs["noisy"]["ci_high"] - vs["noisy"]["ci_low"] == pytest.approx(
        2 * sps.t.ppf(0.975, 199) * d.std(ddof=1) / np.sqrt(200))
    # Holm over the family (gradcam, energy_in_box): the four selectors
    raw = [sps.ttest_rel(values[f"gradcam|{s}|4|energy_in_box"], rnd).pvalue for s in ("up", "down", "noisy")]
    assert vs["noisy"]["p_adjusted"] == pytest.approx(sj.stats.holm([*raw, 1.0])[2])
    assert vs["noisy"]["verdict"] == ("inconclusive" if vs["noisy"]["p_adjusted"] >= 0.05
                                      else "beats" if vs["noisy"]["mean_diff"] > 0 else "loses")
    # deletion AUC: lower is better; a margin lets identical maps "match"
    values.update({n.replace("energy_in_box", "deletion"): v for n, v in values.items()})
    _, versus = B.summarize(values, margin=0.01)
    vs = {(r["selector"], r["metric"]): r for r in versus}
    assert vs[("up", "deletion")]["verdict"] == "loses" and vs[("down", "deletion")]["verdict"] == "beats"
    assert vs[("same", "deletion")]["verdict"] == vs[("same", "energy_in_box")]["verdict"] == "matches"


@pytest.mark.parametrize("arch, layer", [("resnet18", "stage4_block1/conv2"), ("resnet50", "stage4_block2/conv3"),
                                         ("resnext50_32x4d", "stage4_block2/conv3"), ("vgg16_bn", "conv5_3")])
def test_default_layer_is_the_last_conv_output(arch, layer):
    fu = FU
    model = sj.models.TORCH_ARCHITECTURES[arch](10)
    assert fu.default_layer(model) == layer
    params = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))["params"]
    node = params
    for part in layer.split("/"):
        node = node[part]
    kernel = node["conv"]["kernel"]
    assert kernel.shape[-1] == (512 if arch in ("resnet18", "vgg16_bn") else 2048)
    with pytest.raises(ValueError, match="CNNs"):
        fu.default_layer(sj.models.TORCH_ARCHITECTURES["vit_tiny_patch16_224"](10))


def test_config_takes_layers_by_comma_and_needs_images(tmp_path):
    assert FU.Config(layers=("a,b", "c")).layers == ("a", "b", "c")
    assert sj.experiments.parse("follow_up", ["--layers", "x/conv1,y/conv2"]).layers == ("x/conv1", "y/conv2")
    with pytest.raises(ValueError, match="arch"):
        FU.Config(arch="resnet7")
    with pytest.raises(ValueError, match="margin"):
        FU.Config(margin=0.0)
    with pytest.raises(ValueError, match="--images is required"):
        FU.run(FU.Config(), sj.experiments.Store(tmp_path))


@pytest.mark.slow
def test_quick_run_writes_results_and_resumes(tmp_path):
    fu = script()
    out = tmp_path / "run"
    report = fu.main(["--quick", "--out", str(out), "--no-progress"])
    saved = json.loads((out / "follow_up.json").read_text())
    cfg = FU.Config.ci()
    assert saved["n_evaluated"] == cfg.limit and saved["sources"]["weights"] == "random"
    assert saved["provenance"]["config"]["arch"] == "resnet18" and "jax" in saved["provenance"]["versions"]
    assert saved["provenance"]["commit"] is None or len(saved["provenance"]["commit"]) == 40
    rows = {(r["method"], r["selector"], r["k"]) for r in saved["table"]}
    for method in C.METHODS:
        assert (method, "all", 256) in rows
        for sel in ("tag:combined", "tag-image:intermodulation", "l1", "activation-image", "random"):
            assert all((method, sel, k) in rows for k in cfg.ks)
    assert {r["verdict"] for r in saved["versus_random"]} <= {"beats", "loses", "matches", "inconclusive"}
    assert saved["verdict_rule"]["alpha"] == cfg.alpha and saved["verdict_rule"]["family"] == B.FAMILY
    assert sum(saved["verdict_tally"].values()) == len(saved["versus_random"])
    assert all(r["n_images"] == cfg.limit for r in saved["table"])
    for name in ("follow_up_table.csv", "follow_up_vs_random.csv"):
        assert (out / name).stat().st_size > 1000
    assert (out / "follow_up_metrics.png").stat().st_size > 20_000
    chunks = sorted((out / "steps").glob("chunk*.json"))
    assert len(chunks) == -(-cfg.limit // cfg.chunk) > 1  # resumed chunk by chunk (chunks of one shape: one compile)
    stamps = [p.stat().st_mtime_ns for p in chunks]
    again = fu.main(["--quick", "--out", str(out), "--no-progress"])  # every chunk is read back, none recomputed
    assert [p.stat().st_mtime_ns for p in chunks] == stamps
    assert again["table"] == report["table"]
