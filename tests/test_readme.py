"""The README's and the documentation site's code runs as written: every python block executes in order, every
command line parses.

The site's pages are the Markdown files of ``docs/`` (not the notebooks, which ``test_notebooks.py`` runs; not the
generated API pages). Their ``python`` blocks run after the README's, in one namespace: ``getting_started.md`` first,
whose example the other pages continue, then the others by path. A ``py`` block is shown and not run.
"""

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

import ssvepjax as sj

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
# Folders of docs/ that hold no pages: build output, generated pages, stored results, the site's extension.
NOT_PAGES = {"_build", "api", "tutorials", "results", "templates", "figures", "benchmarks", "pruning", "_screenshots",
             "_ext"}


def site_pages() -> list[Path]:
    """The site's Markdown pages in the order their code runs: getting started, then the rest by path."""
    pages = [p for p in sorted(DOCS.rglob("*.md")) if not NOT_PAGES & set(p.relative_to(DOCS).parts[:-1])]
    first = DOCS / "getting_started.md"
    assert first in pages
    return [first] + [p for p in pages if p != first]


def sources() -> list[tuple[str, str]]:
    """``(name, text)`` of the README and of every page of the site, in run order."""
    return [("README.md", README)] + [(str(p.relative_to(ROOT)), p.read_text()) for p in site_pages()]


def blocks(lang: str, text: str = README) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def commands() -> list[list[str]]:
    """Every command line of the bash blocks of the README and the site, split (comments dropped, ``a && b`` split
    into two)."""
    out = []
    for _, text in sources():
        for block in blocks("bash", text):
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


def test_site_pages_are_found():
    names = {p.relative_to(DOCS).as_posix() for p in site_pages()}
    assert {"index.md", "getting_started.md", "method.md", "guide/probing.md", "findings/index.md"} <= names
    assert not any(n.startswith(("api/", "tutorials/", "_build/")) for n in names)


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
                assert "sj.experiments.load_model(" in path.read_text(), (
                    f"{argv[1]}: give it a parse_args (it would run here)")

                def stop(cfg):
                    raise _Parsed

                monkeypatch.setattr(sj, "load_model", stop)
                with pytest.raises(_Parsed):
                    mod.main(argv[2:])
            seen += 1
    assert seen >= 5


# What the site's blocks print, as their comments say: a fragment of the block's code -> its printed lines.
SITE_PRINTS = {
    "tags.tag_bins": ["(12, 15) 3 80"],
    "listed = sj.components": ["28 ('f2-f1',) 1.5", "[('4f2', '5f1')]", "120.0 160 2"],
    "per_neuron = ": ["(27, 7, 7, 64)", "(121, 64)"],
    "print(sj.scores.methods())": [str(sj.scores.methods())],
    "stream_tests(": ["(2, 3136)"],
    "class_activation_maps(": ["(4, 28, 28)"],
    "sj.explain.tag_attribution(": ["(4, 2) 80"],
    "models.resnet18(": ["11181642", "['stem/pre', 'stem/post', 'stage1_block0/conv1/pre']"],
    "part_corruption_accuracy(": ["['clean', 'noised', 'parts', 'zeroed']"],
}


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    """The blocks run, and what their comments say of shapes, names and printed values is what they give."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    code = [(f"{name} python block {i}", block) for name, text in sources()
            for i, block in enumerate(blocks("python", text))]
    assert len(blocks("python")) == 1  # the README's one example; the site's pages hold the others
    assert len(code) >= 4 and any(name.startswith("docs/getting_started.md") for name, _ in code)
    printed: dict[str, list[str]] = {}
    for name, block in code:
        exec(compile(block, name, "exec"), namespace)  # noqa: S102 (the README's and the site's own code)
        printed[name] = capsys.readouterr().out.strip().splitlines()

    def printed_by(fragment: str) -> list[str]:
        (name,) = [name for name, block in code if fragment in block]
        return printed[name]

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
    im, z_im = summary["any_intermodulation"], summary["z_rule"]["any_intermodulation"]
    # The README's example prints what the getting-started example computes step by step (same images and design).
    assert printed["README.md python block 0"] == [f"{summary['rule']} {im}"]
    library = printed_by('res = results["stage3_block0/conv2/post"]')
    assert library[0] == f"{res.labels[:4]} {res.freqs_hz[:4]}"
    assert library[1] == f"{summary['rule']} {im} {z_im}"
    assert printed_by("train_step(state")[-1] == str({k: round(float(v), 4) for k, v in ns["logs"].items()})
    ratio = float(printed_by("pruning.prune(trained.module")[-1])  # the pruned network's FLOPs over the original's
    assert 0.3 < ratio < 0.95 and ratio == pytest.approx(
        ns["pruning"].flops(ns["small"], ns["data"].image_shape) / ns["pruning"].flops(ns["trained"].module,
                                                                                        ns["data"].image_shape))
    assert ns["stripes"].shape == (3, 28, 28) and ns["three"].shape == (240, 28, 28, 1)
    for fragment, lines in SITE_PRINTS.items():
        assert printed_by(fragment) == lines, fragment
    row = ns["res"].row("f1+f2")
    assert printed_by('row = res.row("f1+f2")')[0] == f"{res.labels[row]} {res.freqs_hz[row]} {res.bins[row]}"
    assert printed_by('row = res.row("f1+f2")')[0] == "f1+f2 13.5 27"
    assert printed_by("z_design = ")[0].startswith("z > 1.64 against 10 neighbouring bins per side")
    assert printed_by("mean_pixel")[0] == str(round(float(ns["data"].test_images[:100].mean()), 4))
