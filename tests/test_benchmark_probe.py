"""Tests for the probe benchmark (``ssvepjax.experiments.benchmark_probe``, ``experiments/benchmark_probe.py``): its
settings, ratios and floors, that its PyTorch contender computes what the library computes, and a memory run end to
end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax import experiments
from ssvepjax.experiments import benchmark_probe as bench
from ssvepjax.experiments import benchmarking
from ssvepjax.testing.torch_reference import require

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_through_the_framework_but_are_not_results():
    assert set(experiments.framework.BENCHMARKS) == {"benchmark_probe", "benchmark_large"}
    assert not set(experiments.framework.BENCHMARKS) & set(experiments.NAMES)
    assert experiments.framework.experiment("benchmark_probe") is bench
    quick = experiments.parse("benchmark_probe", ["--quick", "--no-torch", "--memory-frames", "240", "480"])
    assert (quick.repeats, quick.batch, quick.chunk, quick.memory_sizes) == (2, 2, 2, (4, 8, 16))
    assert quick.memory_frames == (240, 480) and not quick.torch and quick.out == "runs/benchmark_probe_quick"


@pytest.mark.parametrize("args,match", [(["--device", "tpu"], "device"), (["--batch", "0"], ">= 1"),
                                        (["--memory-sizes", "0"], ">= 1")])
def test_bad_settings_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        experiments.parse("benchmark_probe", args)


def test_ratios_are_per_repeat_and_a_contender_timed_once_meets_every_repeat():
    out = bench.summarise({"probe": [1.0, 2.0, 4.0], "forward": [2.0, 2.0, 2.0], "torch_loop": [8.0]})
    assert out["probe_s"] == 2.0 and out["runs"]["torch_loop"] == [8.0]
    assert out["ratios"]["probe/forward"] == {"median": 1.0, "min": 0.5, "max": 2.0}
    assert out["ratios"]["torch_loop/probe"] == {"median": 4.0, "min": 2.0, "max": 8.0}
    assert "torch_batched/probe" not in out["ratios"]


def test_floors():
    single = {"compile_s": 3.0, "compile_every_frame_s": 9.0,
              "ratios": {"probe/forward": {"median": 1.1}, "torch_loop/probe": {"median": 3.0}}}
    floors = bench.check_floors({"single": single, "batch": {"ratios": {"dataset/forward": {"median": 1.2}}}})
    assert floors["probe/forward"] == {"value": 1.1, "floor": "<= 1.25", "met": True}
    assert not floors["torch_loop/probe"]["met"] and floors["compile_s"]["met"]
    assert not floors["compile_s (every frame)"]["met"] and floors["dataset/forward"]["met"]
    assert "torch_batched/probe" not in floors  # not measured: not judged
    assert "floor probe/forward" in bench.report({"floors": floors})


def test_children_import_this_library():
    env = benchmarking.child_env(fixed_malloc=False, EXTRA="1")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT) and env["EXTRA"] == "1"
    assert benchmarking.child_env()["MALLOC_MMAP_THRESHOLD_"] == benchmarking.MALLOC_MMAP_THRESHOLD
    cmd = benchmarking.child_command("ssvepjax.experiments.benchmark_probe", ["memory", 4])
    assert cmd[0] == sys.executable and cmd[-2:] == ["memory", "4"]


def test_the_torch_contender_computes_the_library_measures():
    """The PyTorch probe of the benchmark (hooks, every frame, torch.fft) against ``probe_dataset`` (one period):
    the same amplitudes, SNR and z at the components of every layer, frame by frame and batched."""
    torch = require("torch")
    from ssvepjax.testing.torch_resnet import TorchProbe, torch_device

    assert torch_device("cpu") == {"torch": torch.__version__, "torch_device": "cpu",
                                   "torch_threads": torch.get_num_threads()}

    # The contender's noise window is the plain EEG one: no bins left out.
    design = sj.Design(sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40),
                       sj.NoiseConfig(n_neighbors=3, skip=1, exclude="none"))
    model = sj.CifarResNet(8, width=4)
    variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 12, 12, 3)))
    masks = sj.halves(12, 12)
    images = np.random.default_rng(0).random((2, 12, 12, 3)).astype(np.float32)
    fn = sj.linen_fn(model, variables, capture_intermediates=False, train=False)
    ours = sj.probe_dataset(fn, images, masks, design, progress=False, measures=bench.MEASURES)
    probe = TorchProbe(model, variables, design, masks, "cpu")
    compared = 0
    for one_at_a_time in (False, True):
        theirs = probe.probe(images, one_at_a_time=one_at_a_time)
        assert set(theirs) == set(ours) - {"output"}  # every conv layer, pre- and post-activation
        for layer, m in theirs.items():
            amp = np.asarray(ours[layer]["amplitude"])
            top = np.abs(amp).max()
            # NCHW -> NHWC. Amplitudes near float32 rounding are zeroed by two different rules (torch: at most 1e-4
            # of the series' largest magnitude, DC included; the library: its detection limit of the AC amplitude),
            # so an image's tiny amplitude can be in one mean and not the other: measured 1.4e-5 of the largest.
            got = m["amplitude"].numpy().transpose(0, 2, 3, 1)
            np.testing.assert_allclose(got, amp, atol=5e-4 * top, err_msg=layer)
            # SNR and z where the amplitude and the noise mean are well above rounding (a linear layer, stem/pre,
            # has none: only its fundamentals respond). A noise bin that the two rules zero differently in one
            # image still moves the noise mean a little: measured 0.25% in SNR, 0.0007 in z.
            with np.errstate(divide="ignore", invalid="ignore"):
                noise = amp / np.asarray(ours[layer]["snr"])
            clear = (amp > 1e-2 * top) & (noise > 1e-2 * amp.max(0, keepdims=True))
            compared += int(clear.sum())
            for name in ("snr", "z"):
                np.testing.assert_allclose(m[name].numpy().transpose(0, 2, 3, 1)[clear],
                                           np.asarray(ours[layer][name])[clear], rtol=1e-2, atol=1e-2,
                                           err_msg=(layer, name))
    assert compared > 1000


@pytest.mark.slow  # two fresh processes
def test_memory_run_end_to_end(tmp_path):
    out = tmp_path / "memory.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "benchmark_probe.py"), "--quick", "--memory",
                           "--memory-sizes", "2", "4", "--json", str(out)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(out.read_text())
    assert [r["images"] for r in res["memory"]["runs"]] == [2, 4]
    assert all(r["peak_rss_mib"] >= r["setup_rss_mib"] > 0 for r in res["memory"]["runs"])
    assert res["memory"]["malloc_mmap_threshold"] == benchmarking.MALLOC_MMAP_THRESHOLD
    assert res["info"]["args"]["memory_sizes"] == [2, 4] and res["provenance"]["experiment"] == "benchmark_probe"
    assert "peak growth" in done.stdout
