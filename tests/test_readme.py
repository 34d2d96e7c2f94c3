"""The README's code runs as written: every python block executes in order, every command line parses."""

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

import ssvepjax as sj

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def commands() -> list[list[str]]:
    """Every command line of the bash blocks, split (comments dropped, ``a && b`` split into two)."""
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            for part in line.split("&&"):
                if part.strip():
                    out.append(shlex.split(part.strip()))
    return out


def test_readme_has_the_two_entry_commands_first():
    first = blocks("bash")[:2]
    assert "pip install -e . && ssvepjax run" in first[0]
    assert 'pip install -e ".[test]" && python -m pytest -q' in first[1]


class _Parsed(Exception):
    pass


def test_readme_command_lines_parse(monkeypatch):
    """Each ``ssvepjax`` and ``python experiments/...`` line is parsed by the program's own parser (not run)."""
    from ssvepjax.experiments import cli

    seen = 0
    for argv in commands():
        if argv[:2] == ["ssvepjax", "run"]:
            cli.config_from_args(cli._parser().parse_args(argv[1:]), n_images=16)
            seen += 1
        elif argv[0] == "python" and argv[1].startswith("experiments/"):
            path = ROOT / argv[1]
            assert path.exists(), argv
            spec = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(spec)
            monkeypatch.setitem(sys.modules, path.stem, mod)  # dataclasses look their module up there
            spec.loader.exec_module(mod)
            if hasattr(mod, "parse_args"):  # benchmarks parse their own options
                mod.parse_args(argv[2:])
            else:  # experiments: stop right after the configuration is built and validated
                assert "sj.load_model(" in path.read_text(), f"{argv[1]}: give it a parse_args (it would run here)"

                def stop(cfg):
                    raise _Parsed

                monkeypatch.setattr(sj, "load_model", stop)
                with pytest.raises(_Parsed):
                    mod.main(argv[2:])
            seen += 1
    assert seen >= 5


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    """The blocks run, and what their comments say of shapes, names and printed values is what they give."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    code = blocks("python")
    assert len(code) == 3
    for i, block in enumerate(code):
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)  # noqa: S102 (the README's own code)
    ns = namespace
    assert ns["masks"].shape == (2, 28, 28) and ns["frames"].shape == (240, 28, 28, 1)
    assert len(ns["acts"]) == 15 and ns["acts"]["output"].shape == (240, 10)  # 14 conv layers and the logits
    assert ns["acts"]["stage3_block0/conv2/post"].shape == (240, 7, 7, 64)
    assert ns["amp"].shape == (121, 7, 7, 64) and ns["z"].shape == (3, 7, 7, 64)
    res, summary = ns["res"], ns["summary"]
    assert list(res.labels[:4]) == ["f2-f1", "2f2-2f1", "2f1-f2", "f1"]
    assert ns["responds"].shape == (27, 7, 7, 64) and ns["im_share"].shape == (7, 7, 64)
    assert 0 <= summary["any_intermodulation"] <= 1 and 0 <= summary["z_rule"]["any_intermodulation"] <= 1
    assert set(ns["logs"]) == {"loss", "task_loss", "intermodulation"}
    printed = capsys.readouterr().out.strip().splitlines()[-4:]
    assert printed[0] == f"{res.labels[:4]} {res.freqs_hz[:4]}"
    im, z_im = summary["any_intermodulation"], summary["z_rule"]["any_intermodulation"]
    assert printed[1] == f"{summary['rule']} {im} {z_im}"
    assert printed[2] == str({k: round(float(v), 4) for k, v in ns["logs"].items()})
    ratio = float(printed[3])  # the pruned network's FLOPs over the original's: a quarter of each layer removed
    assert 0.3 < ratio < 0.95 and ratio == pytest.approx(
        ns["pruning"].flops(ns["small"], ns["data"].image_shape) / ns["pruning"].flops(ns["trained"].module,
                                                                                        ns["data"].image_shape))
