import json

import numpy as np
import pytest

from ssvepjax.report.cli import main

TINY = ["run", "--dataset", "digits", "--depth", "8", "--width", "4", "--epochs", "1", "--n-images", "2",
        "--no-progress"]


@pytest.mark.slow
def test_cli_end_to_end_and_cache(tmp_path, capsys):
    out = tmp_path / "run"
    args = TINY + ["--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert 0 <= report["model"]["test_accuracy"] <= 1 and not report["model"]["restored_from_cache"]
    layers = report["layers"]
    assert len(layers) == 14  # 7 conv layers, pre and post
    s = layers["stage3_block0/conv2/post"]
    for key in ("f1", "f2", "mean_harmonic", "mean_intermodulation", "false_positive_rate", "strongest_units"):
        assert key in s
    for name in ("spectrum_strongest.png", "layer_fractions.png", "snr_maps.png"):
        assert (out / name).stat().st_size > 10_000
    with np.load(out / "neuron_components.npz") as z:
        assert z["stem.post.z"].shape == (len(z["bins"]), 8, 8, 4)
    with np.load(out / "filter_spectra.npz") as z:
        assert z["stem.post"].shape == (121, 4)
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "stem" in printed
    with np.load(out / "neuron_components.npz") as z:
        one_period = {k: z[k] for k in z.files}
    assert main(args) == 0  # second run: cached model
    assert json.loads((out / "report.json").read_text())["model"]["restored_from_cache"]
    # Every frame through the network: the same measures as one stimulus period.
    assert main(args + ["--every-frame", "--out", str(tmp_path / "every")]) == 0
    with np.load(tmp_path / "every" / "neuron_components.npz") as z:
        for k in ("stem.post.amplitude", "stage3_block0.conv2.post.amplitude"):
            scale = np.abs(z[k]).max()
            np.testing.assert_allclose(one_period[k], z[k], rtol=1e-3, atol=1e-4 * scale, err_msg=k)


@pytest.mark.parametrize("extra, match", [
    (["--freqs", "6.1", "7.5"], "off-bin"),
    (["--freqs", "6", "70"], "Nyquist"),
    (["--dataset", "nosuchset"], "unknown dataset"),
    (["--dataset", "cifar10", "--data-dir", "/nonexistent"], "no prepared dataset"),
    (["--depth", "10"], "depth"),
    (["--n-images", "0"], "n_images"),
    (["--chunk-size", "0"], "chunk_size"),
])
def test_cli_bad_input_exits_2_with_one_line(extra, match, tmp_path, capsys):
    assert main(TINY + ["--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path)] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "Traceback" not in err[0]
