import json

import numpy as np
import pytest

from ssvepjax.experiments.cli import main

# A run's model key depends on the dataset, the model and the training, not the stimulus: every slow test below
# shares this module's cache, so the tiny model is trained once (by whichever of them runs first) for the file.

TINY = ["run", "--dataset", "digits", "--depth", "8", "--width", "4", "--epochs", "1", "--n-images", "2",
        "--no-progress"]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One model cache for the file's end-to-end runs (they differ in the stimulus only)."""
    return tmp_path_factory.mktemp("cli_cache")


@pytest.mark.slow
def test_cli_end_to_end_and_cache(tmp_path, capsys, shared_cache):
    out = tmp_path / "run"
    models = shared_cache / "models"
    trained_before = models.exists() and any(p.is_dir() for p in models.iterdir())  # by another test of this file
    args = TINY + ["--out", str(out), "--cache-dir", str(shared_cache)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    # Training learns: one epoch of the width-4 ResNet-8 on digits reaches 0.256 (seeded), chance is 0.1.
    assert report["model"]["test_accuracy"] > 0.2 and report["model"]["restored_from_cache"] == trained_before
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
    (["--max-order", "0"], "max_order"),
    (["--n-images", "5000"], "exceeds"),
    (["--pixel-noise", "0.1"], "z rule"),
    (["--pixel-noise", "-1", "--significance", "z"], "pixel_noise"),
    (["--detection-limit", "2"], "detection_limit"),
    (["--n-neighbors", "1", "--skip", "0", "--noise-exclude", "lattice", "--freqs", "6", "7", "--n-frames", "120"],
     "leaves no noise bin"),
])
def test_cli_bad_input_exits_2_with_one_line(extra, match, tmp_path, capsys):
    assert main(TINY + ["--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path)] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "Traceback" not in err[0]


def test_cli_output_paths_are_user_mistakes(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for extra, match in ((["--out", str(afile / "run")], "--out"), (["--cache-dir", str(afile / "c")], "--cache-dir")):
        assert main(TINY + ["--out", str(tmp_path / "r")] + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0] and "cannot be created" in err[0]


def test_cli_internal_errors_are_not_reported_as_user_mistakes(tmp_path, monkeypatch):
    from ssvepjax.experiments import cli

    def broken(cfg, data):
        raise ValueError("an internal bug")

    monkeypatch.setattr(cli, "run_job", broken)
    with pytest.raises(ValueError, match="internal bug"):  # a traceback, not "ssvepjax: error: ..." and exit 2
        main(TINY + ["--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])


def test_cli_help_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and "ssvepjax" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "The main job" in text and "left half, right half" in text and "quadrants" not in text
    for option in ("--epochs", "--batch-size", "--lr", "--seed", "--n-neighbors", "--skip", "--drop-extremes",
                   "--z-threshold", "--chunk-size"):
        assert option in text
    assert text.count("(default") >= 15


@pytest.mark.slow
@pytest.mark.parametrize("freqs", [["6"], ["6", "7.5", "9", "10.5"]])  # one tag, and more than two
def test_cli_any_number_of_tags(freqs, tmp_path, capsys, shared_cache):
    out = tmp_path / "run"
    args = TINY + ["--freqs", *freqs, "--out", str(out), "--cache-dir", str(shared_cache)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    s = report["layers"]["stage3_block0/conv2/post"]
    assert all(f"f{i + 1}" in s for i in range(len(freqs)))
    assert len(report["config"]["design"]["tags"]["freqs_hz"]) == len(freqs)
    for name in ("spectrum_strongest.png", "layer_fractions.png", "snr_maps.png"):
        assert (out / name).stat().st_size > 10_000
    assert not (out / "probe_ckpt").exists()  # the probe's checkpoint is gone once the report is written
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("layer "))
    assert header.split()[2:2 + len(freqs)] == [f"f{i + 1}" for i in range(len(freqs))]  # one column per tag
