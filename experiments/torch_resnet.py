"""PyTorch baseline for ``experiments/benchmark_probe.py``: the CIFAR ResNet of ``ssvepjax.models``.

Used only by the benchmark (the library never imports torch). The architecture matches
``ssvepjax.models.CifarResNet``: 3x3 convolutions without bias, batch norm in eval mode, option-A
shortcuts (stride-2 subsampling and zero-padded channels), ReLU after the residual addition, global
average pooling and a linear head, in PyTorch's NCHW layout. ``load_flax_variables`` copies the
weights of a Flax model so both frameworks compute the same function.

The probe is what published frequency-tagging code does: a forward hook on each conv layer's
pre-activation (batch norm output, plus the shortcut for the second conv of a block) and on its
ReLU (a separate ``nn.ReLU`` instance per layer, so hooks can tell the layers apart), ``torch.fft``
over time, then the amplitude, SNR and z at the component bins with the same noise window as
``ssvepjax.spectral`` (SCIENCE.md sections 2 and 3).
"""

from __future__ import annotations

import numpy as np
import torch
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
    """ResNet-(6n+2) on ``[N, 3, H, W]`` with stages of ``width``, ``2 width``, ``4 width`` filters."""

    def __init__(self, depth: int = 32, num_classes: int = 10, width: int = 16):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.stem = Probed(3, width, 1)
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

    def probed_layers(self) -> dict[str, Probed]:
        """Conv layers by the ssvepjax name (``stem``, ``stage1_block0/conv1``, ...)."""
        out = {"stem": self.stem}
        for name, block in self.blocks.items():
            out[f"{name}/conv1"] = block.conv1
            out[f"{name}/conv2"] = block.conv2
        return out


def load_flax_variables(model: CifarResNet, variables) -> CifarResNet:
    """Copy the params and batch statistics of a Flax ``CifarResNet`` into ``model`` (in place)."""
    params, stats = variables["params"], variables.get("batch_stats", {})

    def t(a):
        return torch.from_numpy(np.array(a, dtype=np.float32))

    def layer(p: Probed, pp, ss):
        p.conv.weight.data = t(pp["conv"]["kernel"]).permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
        p.bn.weight.data, p.bn.bias.data = t(pp["bn"]["scale"]), t(pp["bn"]["bias"])
        p.bn.running_mean.data, p.bn.running_var.data = t(ss["bn"]["mean"]), t(ss["bn"]["var"])

    for name, p in model.probed_layers().items():
        parts = name.split("/")
        pp, ss = params, stats
        for k in parts:
            pp, ss = pp[k], ss[k]
        layer(p, pp, ss)
    model.head.weight.data = t(params["head"]["kernel"]).T.contiguous()
    model.head.bias.data = t(params["head"]["bias"])
    return model.eval()


class Recorder:
    """Forward hooks that store every probed layer's ``pre`` and ``post`` output."""

    def __init__(self, model: CifarResNet):
        self.acts: dict[str, list[torch.Tensor]] = {}
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

    def series(self) -> dict[str, torch.Tensor]:
        """``{layer/pre|post: [T, C, H, W]}`` over the recorded calls (frames)."""
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

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """Amplitude spectrum ``[K, ...]`` of series ``x [T, ...]`` (time first)."""
        t = x.shape[0]
        flat = x.reshape(t, -1)
        amp = torch.fft.rfft(flat, dim=0).abs() * self.scale[:, None]
        floor = 1e-4 * flat.abs().amax(0)
        amp = torch.where((amp > floor) | self.dc[:, None], amp, torch.zeros((), device=amp.device))
        return amp.reshape(amp.shape[0], *x.shape[1:])

    def at_bins(self, spectrum: torch.Tensor) -> dict[str, torch.Tensor]:
        """Amplitude, SNR and z ``[m, ...]`` at the component bins of a spectrum ``[K, ...]``."""
        amp = spectrum.reshape(spectrum.shape[0], -1)
        noise = amp[self.idx]  # [m, 2n, units]
        mu = torch.einsum("mju,mj->mu", noise, self.w)
        var = torch.einsum("mju,mj->mu", (noise - mu[:, None]) ** 2, self.w)
        mu, sigma = mu + self.nan[:, None], var.sqrt() + self.nan[:, None]
        a = amp[self.bins]
        shape = (len(self.bins), *spectrum.shape[1:])
        return {"amplitude": a.reshape(shape), "snr": (a / mu).reshape(shape),
                "z": ((a - mu) / sigma).reshape(shape)}

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.at_bins(self.spectrum(x))
