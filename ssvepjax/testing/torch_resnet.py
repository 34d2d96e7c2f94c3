"""The PyTorch twin of ``ssvepjax.models.CifarResNet``: its port from Flax, and the probe published code runs.

Used by the peer tests (``tests/test_explain_peer.py``: Grad-CAM against Captum on the same weights) and by the
probe benchmark (``ssvepjax.experiments.benchmark_probe``: the PyTorch contenders). The library never imports
torch, and this module imports it only inside its functions (the ``bench``, ``explain`` and ``peer`` extras).

The architecture matches ``ssvepjax.models.CifarResNet``: 3x3 convolutions without bias, batch norm in eval mode,
option-A shortcuts (stride-2 subsampling and zero-padded channels), ReLU after the residual addition, global
average pooling and a linear head, in PyTorch's NCHW layout. :func:`load_flax_variables` copies the weights of a
Flax model, so both frameworks compute the same function.

The probe (:class:`TorchProbe`) is what published frequency-tagging code does: a forward hook on each conv
layer's pre-activation (batch norm output, plus the shortcut for the second conv of a block) and on its ReLU (a
separate ``nn.ReLU`` instance per layer, so hooks can tell the layers apart), ``torch.fft`` over time, then the
amplitude, SNR and z at the component bins with the same noise window as ``ssvepjax.spectral`` (SCIENCE.md
sections 2 and 3).
"""

from __future__ import annotations

import functools
import types

import numpy as np

__all__ = ["Measures", "Recorder", "TorchProbe", "cifar_resnet", "load_flax_variables", "probed_layer", "to_nchw",
           "torch_device", "torch_twin"]


@functools.cache
def _modules() -> types.SimpleNamespace:
    """The ``torch.nn.Module`` classes, defined on first use (they subclass torch's, which is imported here)."""
    from torch import nn
    from torch.nn import functional as F

    class Probed(nn.Module):
        """Conv -> BN (-> + shortcut) -> ReLU; ``pre`` and ``post`` are hookable submodules."""

        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            # Flax BatchNorm's default epsilon (1e-5) equals PyTorch's.
            self.bn = nn.BatchNorm2d(cout)
            self.pre = nn.Identity()
            self.post = nn.ReLU()

        def forward(self, x, shortcut=None):
            y = self.bn(self.conv(x))
            if shortcut is not None:
                y = y + shortcut
            return self.post(self.pre(y))

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.stride, self.pad = stride, cout - cin
            self.conv1 = Probed(cin, cout, stride)
            self.conv2 = Probed(cout, cout, 1)

        def forward(self, x):
            shortcut = x
            if self.stride != 1 or self.pad:
                shortcut = x[:, :, :: self.stride, :: self.stride]
                shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
            return self.conv2(self.conv1(x), shortcut)

    class CifarResNet(nn.Module):
        """ResNet-(6n+2) on ``[N, C, H, W]`` with stages of ``width``, ``2 width``, ``4 width`` filters."""

        def __init__(self, depth: int = 32, num_classes: int = 10, width: int = 16, in_channels: int = 3):
            super().__init__()
            if depth < 8 or (depth - 2) % 6:
                raise ValueError(f"depth must be 6n + 2 with n >= 1, got {depth}")
            n = (depth - 2) // 6
            self.stem = Probed(in_channels, width, 1)
            blocks, cin = [], width
            for s in range(3):
                for b in range(n):
                    cout = width * 2**s
                    stride = 2 if (s > 0 and b == 0) else 1
                    blocks.append((f"stage{s + 1}_block{b}", BasicBlock(cin, cout, stride)))
                    cin = cout
            self.blocks = nn.ModuleDict(dict(blocks))
            self.head = nn.Linear(cin, num_classes)

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks.values():
                x = block(x)
            return self.head(x.mean(dim=(2, 3)))

        def probed_layers(self) -> dict:
            """Conv layers (``Probed``) by the ssvepjax name (``stem``, ``stage1_block0/conv1``, ...)."""
            out = {"stem": self.stem}
            for name, block in self.blocks.items():
                out[f"{name}/conv1"] = block.conv1
                out[f"{name}/conv2"] = block.conv2
            return out

    return types.SimpleNamespace(Probed=Probed, BasicBlock=BasicBlock, CifarResNet=CifarResNet)


def cifar_resnet(depth: int = 32, num_classes: int = 10, width: int = 16, in_channels: int = 3):
    """A PyTorch ``CifarResNet`` (random weights; ``probed_layers()`` names its conv layers as ssvepjax does)."""
    return _modules().CifarResNet(depth, num_classes, width, in_channels)


def probed_layer(cin: int, cout: int, stride: int):
    """One conv layer of the twin: conv -> BN (-> + shortcut) -> ReLU, with hookable ``pre`` and ``post``."""
    return _modules().Probed(cin, cout, stride)


def load_flax_variables(model, variables):
    """Copy the params and batch statistics of a Flax ``CifarResNet`` into the twin ``model`` (in place); eval mode."""
    import torch

    params, stats = variables["params"], variables.get("batch_stats", {})

    def t(a):
        return torch.from_numpy(np.array(a, dtype=np.float32))

    for name, p in model.probed_layers().items():
        pp, ss = params, stats
        for k in name.split("/"):
            pp, ss = pp[k], ss[k]
        p.conv.weight.data = t(pp["conv"]["kernel"]).permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
        p.bn.weight.data, p.bn.bias.data = t(pp["bn"]["scale"]), t(pp["bn"]["bias"])
        p.bn.running_mean.data, p.bn.running_var.data = t(ss["bn"]["mean"]), t(ss["bn"]["var"])
    model.head.weight.data = t(params["head"]["kernel"]).T.contiguous()
    model.head.bias.data = t(params["head"]["bias"])
    return model.eval()


def torch_twin(module, variables, in_channels: int):
    """A PyTorch ``CifarResNet`` in eval mode computing the same function as the Flax ``module``.

    Args:
        module: a ``ssvepjax.models.CifarResNet`` (depth, width, num_classes are read from it).
        variables: its trained variables (``params`` and ``batch_stats``).
        in_channels: channels of the input images (grey canvases have one).
    """
    if module.act != "relu":
        raise ValueError(f"the PyTorch twin has ReLU activations, the module has act={module.act!r}")
    model = cifar_resnet(module.depth, module.num_classes, module.width, in_channels)
    return load_flax_variables(model, variables)


def to_nchw(images):
    """``[N, H, W, C]`` NumPy/JAX images as a float32 ``[N, C, H, W]`` tensor."""
    import torch

    return torch.from_numpy(np.asarray(images, np.float32).transpose(0, 3, 1, 2).copy())


class Recorder:
    """Forward hooks that store every probed layer's ``pre`` and ``post`` output."""

    def __init__(self, model):
        self.acts: dict[str, list] = {}
        self.handles = []
        for name, p in model.probed_layers().items():
            for kind in ("pre", "post"):
                key = f"{name}/{kind}"
                self.acts[key] = []
                self.handles.append(getattr(p, kind).register_forward_hook(self._hook(key)))

    def _hook(self, key):
        def hook(module, inputs, output):
            self.acts[key].append(output.detach())

        return hook

    def clear(self):
        for v in self.acts.values():
            v.clear()

    def series(self) -> dict:
        """``{layer/pre|post: [T, C, H, W]}`` over the recorded calls (frames)."""
        import torch

        return {k: torch.cat(v, 0) for k, v in self.acts.items()}

    def remove(self):
        for h in self.handles:
            h.remove()


class Measures:
    """Amplitude, SNR and z at component bins from time series ``[T, ...]`` (torch, any device).

    The same conventions as ``ssvepjax.spectral``: ``A_k = 2|rfft_k|/T`` (``1/T`` at DC and Nyquist),
    amplitudes at or below ``1e-4`` of the series' largest magnitude set to 0, noise bins at offsets
    ``skip < |o| <= skip + n_neighbors`` inside ``1..K-1``, mean and population std, NaN where fewer
    than ``n_neighbors`` noise bins remain.
    """

    def __init__(self, n_frames: int, bins, n_neighbors: int = 10, skip: int = 1, device="cpu"):
        import torch

        k = n_frames // 2 + 1
        bins = np.asarray(bins, dtype=np.int64)
        up = np.arange(skip + 1, skip + n_neighbors + 1)
        offsets = np.concatenate([-up[::-1], up])
        idx = bins[:, None] + offsets[None, :]
        valid = (idx >= 1) & (idx <= k - 1)
        count = valid.sum(1)
        scale = np.full(k, 2.0 / n_frames)
        scale[0] = 1.0 / n_frames
        if n_frames % 2 == 0:
            scale[-1] = 1.0 / n_frames
        self.torch = torch
        self.n_frames = n_frames
        self.bins = torch.as_tensor(bins, device=device)
        self.idx = torch.as_tensor(np.clip(idx, 0, k - 1), device=device)
        w = valid / np.where(count >= n_neighbors, count, 1)[:, None]
        self.w = torch.as_tensor(w, dtype=torch.float32, device=device)
        self.nan = torch.as_tensor(np.where(count >= n_neighbors, 0.0, np.nan), dtype=torch.float32,
                                   device=device)
        self.scale = torch.as_tensor(scale, dtype=torch.float32, device=device)
        self.dc = torch.zeros(k, dtype=torch.bool, device=device)
        self.dc[0] = True

    def spectrum(self, x):
        """Amplitude spectrum ``[K, ...]`` of series ``x [T, ...]`` (time first)."""
        torch = self.torch
        t = x.shape[0]
        flat = x.reshape(t, -1)
        amp = torch.fft.rfft(flat, dim=0).abs() * self.scale[:, None]
        floor = 1e-4 * flat.abs().amax(0)
        amp = torch.where((amp > floor) | self.dc[:, None], amp, torch.zeros((), device=amp.device))
        return amp.reshape(amp.shape[0], *x.shape[1:])

    def at_bins(self, spectrum) -> dict:
        """Amplitude, SNR and z ``[m, ...]`` at the component bins of a spectrum ``[K, ...]``."""
        amp = spectrum.reshape(spectrum.shape[0], -1)
        noise = amp[self.idx]  # [m, 2n, units]
        mu = self.torch.einsum("mju,mj->mu", noise, self.w)
        var = self.torch.einsum("mju,mj->mu", (noise - mu[:, None]) ** 2, self.w)
        mu, sigma = mu + self.nan[:, None], var.sqrt() + self.nan[:, None]
        a = amp[self.bins]
        shape = (len(self.bins), *spectrum.shape[1:])
        return {"amplitude": a.reshape(shape), "snr": (a / mu).reshape(shape),
                "z": ((a - mu) / sigma).reshape(shape)}

    def __call__(self, x) -> dict:
        return self.at_bins(self.spectrum(x))


def torch_device(device: str = "auto") -> dict | None:
    """The torch at hand: ``{"torch": version, "torch_device", "torch_threads"}`` (and ``"torch_gpu"`` on a GPU),
    ``"auto"`` picking ``cuda`` where available; None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    info = {"torch": torch.__version__, "torch_device": device, "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        info["torch_gpu"] = torch.cuda.get_device_name()
    return info


class TorchProbe:
    """The probe as published code runs it: the twin of a Flax ``CifarResNet`` with hooks on every conv layer,
    the tagged frames of each image through it (one at a time or as one batch), then ``torch.fft`` and
    :class:`Measures` on the image-averaged spectra.

    :class:`Measures` takes the plain EEG noise window (no bins left out): it equals the library's with
    ``NoiseConfig(exclude="none")``.

    Args:
        module: a Flax ``ssvepjax.models.CifarResNet`` (ReLU).
        variables: its variables (copied into the twin).
        design: a ``ssvepjax.spectral.Design`` (tags, noise window, component bins).
        masks: ``[P, H, W]`` parts, one per tag.
        device: a torch device name (``"cpu"``, ``"cuda"``).
        in_channels: channels of the images.
    """

    def __init__(self, module, variables, design, masks, device: str, in_channels: int = 3):
        import torch

        from ssvepjax.tagging import gains

        self.torch = torch
        self.device = device
        self.model = torch_twin(module, variables, in_channels).to(device)
        self.recorder = Recorder(self.model)
        cb, _, _ = design.bins()
        t = design.tags
        self.measures = Measures(t.n_frames, cb, design.noise.n_neighbors, design.noise.skip, device=device)
        g = np.asarray(gains(t.freqs_hz, fps=t.fps, n_frames=t.n_frames, min_gain=t.min_gain, phase=t.phase))
        gain = 1.0 + np.einsum("tp,phw->thw", g - 1.0, np.asarray(masks, np.float32))
        self.pixel_gain = torch.as_tensor(gain, dtype=torch.float32, device=device)[:, None]  # [T,1,H,W]

    def sync(self):
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def frames(self, image: np.ndarray):
        """The tagged frames ``[T, C, H, W]`` of one ``[H, W, C]`` image."""
        x = self.torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)), device=self.device)
        return x[None] * self.pixel_gain

    def spectra(self, image: np.ndarray, one_at_a_time: bool) -> dict:
        """``{layer/pre|post: [K, C, H, W]}`` amplitude spectra of one image's recording."""
        self.recorder.clear()
        frames = self.frames(image)
        if one_at_a_time:
            for i in range(frames.shape[0]):
                self.model(frames[i:i + 1])
        else:
            self.model(frames)
        return {k: self.measures.spectrum(x) for k, x in self.recorder.series().items()}

    def probe(self, images: np.ndarray, one_at_a_time: bool) -> dict:
        """Amplitude, SNR and z at the component bins of the spectra averaged over ``images [N, H, W, C]``."""
        with self.torch.inference_mode():
            total = None
            for image in images:
                s = self.spectra(image, one_at_a_time)
                total = s if total is None else {k: total[k] + s[k] for k in s}
            out = {k: self.measures.at_bins(v / len(images)) for k, v in total.items()}
        self.sync()
        return out
