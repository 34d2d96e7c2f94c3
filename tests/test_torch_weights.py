"""Converted torchvision / timm weights give the torch models' outputs, block by block (peer tests).

The references are torchvision's and timm's own model code (imported through
``ssvepjax.testing.torch_reference``; they fail rather than skip when ``$CI`` is set), randomly
initialised with random batch-norm statistics, at small inputs (64 x 64 for the CNNs, 32 x 32 for the
ViT) to keep CI fast. Tolerance: the largest difference at most ``TOL`` of the largest magnitude of
the torch output, for the logits and for every block's output.
"""

import jax
import numpy as np
import pytest

from ssvepjax import models
from ssvepjax.recording.adapters import flatten_intermediates
from ssvepjax.testing import torch_reference as tr

TOL = 1e-4  # measured (2 CPU cores, torch 2.13.0, torchvision 0.28.0, timm 1.0.31): see MEASURED below
MEASURED: dict[str, float] = {}


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def images(n, size, seed=0):
    return np.random.default_rng(seed).normal(size=(n, size, size, 3)).astype(np.float32)


def ours(model, variables, x):
    # One compiled program (run eagerly, the forward pass compiles each of its operations alone).
    logits, state = jax.jit(lambda v, x: model.apply(v, x, train=False, mutable=["intermediates"]))(variables, x)
    return np.asarray(logits), {k: np.asarray(v) for k, v in
                                flatten_intermediates(state["intermediates"], squeeze_batch=False).items()}


def check(family, torch_model, model, torch_modules, our_names, x):
    """Convert ``torch_model`` into ``model``; compare logits and each ``torch_modules[k]`` with ``our_names[k]``."""
    variables = models.convert_state_dict(tr.state_dict_numpy(torch_model), model)
    t_logits, t_blocks = tr.block_outputs(torch_model, torch_modules, x)
    j_logits, j_blocks = ours(model, variables, x)
    errs = {"logits": rel(j_logits, t_logits)}
    for k, name in our_names.items():
        errs[k] = rel(j_blocks[name], t_blocks[k])
    worst = max(errs, key=errs.get)
    MEASURED[family] = errs[worst]
    print(f"{family}: max rel diff {errs[worst]:.2e} at {worst} over {len(errs)} outputs")
    assert errs[worst] < TOL, (worst, errs[worst])
    return variables


def resnet_modules(net, stage_sizes, block):
    last = "conv2" if block == "basic" else "conv3"
    mods, names = {"bn1": net.bn1}, {"bn1": "stem/pre"}
    for s, n in enumerate(stage_sizes):
        for b in range(n):
            key = f"stage{s + 1}_block{b}"
            mods[key] = getattr(net, f"layer{s + 1}")[b]
            names[key] = f"{key}/{last}/post"
    return mods, names


@pytest.fixture(scope="module")
def tv():
    return tr.import_torchvision()


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d"])
def test_resnets_match_torchvision(tv, name):
    import torch

    torch.manual_seed(0)
    net = tr.randomize_batch_norm(getattr(tv.models, name)(num_classes=10)).eval()
    model = models.TORCH_ARCHITECTURES[name](10)
    mods, names = resnet_modules(net, model.stage_sizes, model.block)
    check(name, net, model, mods, names, images(2, 64))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg_matches_torchvision(tv, batch_norm):
    import torch

    torch.manual_seed(1)
    name = "vgg11_bn" if batch_norm else "vgg11"
    net = tr.randomize_batch_norm(getattr(tv.models, name)(num_classes=10)).eval()
    model = models.TORCH_ARCHITECTURES[name](10)
    mods, names, i = {}, {}, 0
    step = 3 if batch_norm else 2
    for s, filters in enumerate(model.stages):
        for j in range(len(filters)):
            mods[f"conv{s + 1}_{j + 1}"] = net.features[i + step - 1]  # the ReLU after conv (and bn)
            names[f"conv{s + 1}_{j + 1}"] = f"conv{s + 1}_{j + 1}/post"
            i += step
        i += 1
    mods.update(fc1=net.classifier[1], fc2=net.classifier[4])
    names.update(fc1="fc1/post", fc2="fc2/post")
    # 64 x 64 leaves a 2 x 2 map, which torch's adaptive pool spreads unevenly over 7 x 7: this checks
    # the bins and the permutation of the first dense layer, which a 1 x 1 map would hide
    check(name, net, model, mods, names, images(2, 64, seed=1))


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224"])  # timm's DeiTs are this class: names checked below
def test_vit_matches_timm(name):
    import torch

    timm = tr.import_timm()
    torch.manual_seed(2)
    net = timm.create_model(name, pretrained=False, num_classes=10, img_size=32).eval()
    with torch.no_grad():  # timm starts the class token near 0 and position embeddings small: make them matter
        net.cls_token.normal_(0, 1.0)
        net.pos_embed.normal_(0, 1.0)
    model = models.TORCH_ARCHITECTURES[name](10)
    mods = {f"block{i}": blk for i, blk in enumerate(net.blocks)}
    names = {f"block{i}": f"block{i}/out" for i in range(len(net.blocks))}
    check(name, net, model, mods, names, images(2, 32, seed=2))


def meta_state_dict(net) -> dict[str, np.ndarray]:
    """Zero arrays (broadcast views, no memory) with the names and shapes of a meta-device model's state dict."""
    zero = np.zeros((), np.float32)
    return {k: np.broadcast_to(zero, tuple(v.shape)) for k, v in net.state_dict().items()}


@pytest.mark.parametrize("name", sorted(models.TORCH_ARCHITECTURES))
def test_every_architecture_has_torch_names_and_shapes(tv, name):
    """Every listed architecture converts the full-size (1000-class, 224 x 224) torch model's state dict."""
    import torch

    with torch.device("meta"):
        if name.startswith(("vit", "deit")):
            net = tr.import_timm().create_model(name, pretrained=False)
        else:
            net = getattr(tv.models, name)()
    sd = meta_state_dict(net)
    model = models.TORCH_ARCHITECTURES[name](1000)
    variables = models.convert_state_dict(sd, model)
    n_torch = sum(int(np.prod(v.shape)) for k, v in sd.items() if not k.endswith(("running_mean", "running_var",
                                                                                     "num_batches_tracked")))
    assert models.param_count(variables) == n_torch


def test_wrong_architecture_lists_names(tv):
    import torch

    with torch.device("meta"):
        r18, r50 = tv.models.resnet18(), tv.models.resnet50()
    with pytest.raises(ValueError, match=r"missing \[layer1\.2\..*layer1\.2\.conv1\.weight.*unexpected \[\]"):
        models.convert_state_dict(meta_state_dict(r18), models.resnet34())
    with pytest.raises(ValueError, match=r"shapes do not match.*layer1\.0\.conv1\.weight"):
        models.convert_state_dict(meta_state_dict(r50), models.resnext50_32x4d())
    with pytest.raises(ValueError, match="unexpected"):
        models.convert_state_dict(meta_state_dict(r50), models.vgg("vgg11"))
    with pytest.raises(ValueError, match="mapping"):
        models.convert_state_dict([1, 2], models.resnet18())


def test_files_round_trip(tv, tmp_path):
    """.safetensors (NumPy API) and .pth (torch.save) files load into the same variables as the state dict."""
    import torch
    from safetensors.numpy import save_file

    torch.manual_seed(3)
    net = tr.randomize_batch_norm(tv.models.resnet18(num_classes=7)).eval()
    sd = tr.state_dict_numpy(net)
    save_file(sd, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, tmp_path / "w.pth")
    want = models.convert_state_dict(sd, models.resnet18(7))
    for f in ("w.safetensors", "w.pth"):
        model, got = models.load_torch_model("resnet18", tmp_path / f)
        assert model.num_classes == 7
        jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)
    with pytest.raises(ValueError, match="must end in"):
        models.load_state_dict(tmp_path / "w.safetensors").clear() or models.load_state_dict(__file__)
    with pytest.raises(ValueError, match="name must be one of"):
        models.load_torch_model("resnet19", sd)
