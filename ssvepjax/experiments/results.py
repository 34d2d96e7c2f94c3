"""The stored results: regenerate them, check that they are current, and render the pages that quote them.

The results the project publishes live in ``docs/results/<run>/`` (``RESULTS``): each run of :data:`RUNS` (an
experiment at its full size, with the options that make the run, e.g. ``--model vit``) writes its folder there
(``<experiment>.json`` with its provenance, figures, tables). Three operations, one command (``ssvepjax results``):

- :func:`run_all` reruns experiments, each in its own process (so its code fingerprint sees every definition it
  runs), and reports each one's wall time;
- :func:`check` lists what is not current: a result without provenance, one whose code has changed since it was
  written (:func:`stale_entries`), an experiment of :data:`NAMES` without a result, and a rendered page
  that differs from what its template renders now;
- :func:`render` writes the pages: a template (Markdown) quotes stored numbers as ``{{ expression }}`` or
  ``{{ expression | format }}``, evaluated over the stored results (each run's JSON under its run's name; keys
  that are not identifiers by ``["key"]``), ``runs`` (``[(run, result)]`` of the stored runs of :data:`RUNS`, in
  its order) and the helpers of :data:`HELPERS`; nothing else is evaluated. A number
  in a page therefore cannot differ from its file. It also draws :data:`FIGURES`, the figures that compare runs.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ssvepjax.experiments.framework import NAMES
from ssvepjax.report.io import read_json, write_text
from ssvepjax.report.origin import code_fingerprint

__all__ = ["FIGURES", "HELPERS", "RESULTS", "RUNS", "TEMPLATES", "check", "load_results", "render", "render_text",
           "run_all", "stale_entries"]

_REPO = Path(__file__).resolve().parents[2]
#: Where the published results are stored: ``<RESULTS>/<experiment>/<experiment>.json`` and its files.
RESULTS = _REPO / "docs" / "results"
#: The page templates: each renders to the same relative path under ``docs/``.
TEMPLATES = _REPO / "docs" / "templates"
_FIELD = re.compile(r"\{\{(.+?)\}\}", re.S)

#: The large models' benchmark as published: ResNet-50 and ViT-S/16 on one 224 x 224 image, the forward passes of
#: the probed frames (batched and vmapped) against the probe per filter and per neuron under a memory budget.
LARGE_KINDS = ("forward_period", "forward_period_vmap", "probe_filter", "probe_budget")

#: Every published run: ``{run: (experiment, command-line options)}``, in the order of the results pages. The
#: follow-up pipeline is not run here: it needs ImageNet images and weights, which are not available offline. The
#: benchmarks measure this machine's time and memory (their stored results say which machine and its load).
RUNS = {
    **{name: (name, ()) for name in NAMES if name != "follow_up"},
    **{f"{name}_{arch}": (name, ("--model", arch)) for arch in ("vgg", "vit")
       for name in ("reproduce", "controls", "where")},
    "benchmark_probe": ("benchmark_probe", ()),
    "benchmark_memory_frames": ("benchmark_probe", ("--memory-frames", "240", "480", "960", "--warm-cache")),
    "benchmark_large": ("benchmark_large", ("--cases", "resnet50:224", "vit_s16:224", "--kinds", *LARGE_KINDS,
                                            "--repeats", "2")),
}


class _Tree(dict):
    """A stored result: keys as attributes (``r.settings.model``) as well as items."""

    def __getattr__(self, key):
        try:
            return _wrap(self[key])
        except KeyError:
            raise AttributeError(f"no key {key!r}; keys: {sorted(self)[:20]}") from None

    def __getitem__(self, key):
        return _wrap(dict.__getitem__(self, key))


def _wrap(x):
    return _Tree(x) if isinstance(x, dict) and not isinstance(x, _Tree) else x


def _experiment_of(run: str) -> str:
    return RUNS[run][0] if run in RUNS else run


def load_results(root: str | Path = RESULTS) -> dict[str, _Tree]:
    """``{run: stored result}`` of every ``<root>/<run>/<experiment>.json`` (the experiment of :data:`RUNS`, or
    the run's own name)."""
    root = Path(root)
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else ():
        path = folder / f"{_experiment_of(folder.name)}.json"
        if path.exists():
            out[folder.name] = _Tree(read_json(path))
    return out


def _mean(xs):
    xs = [float(x) for x in xs]
    return sum(xs) / len(xs)


def _pct(x, digits: int = 0) -> str:
    return f"{100 * float(x):.{digits}f}%"


def _table(rows, columns, digits: int = 3) -> str:
    """A Markdown table of ``rows`` (dicts) with ``columns`` = ``[(header, key)]``; numbers with ``digits``."""
    def cell(v):
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    head = "| " + " | ".join(h for h, _ in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(cell(r.get(k, "")) for _, k in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


#: The functions a template may call besides the stored results (no other builtins).
HELPERS = {"abs": abs, "min": min, "max": max, "round": round, "len": len, "sum": sum, "sorted": sorted,
           "mean": _mean, "pct": _pct, "table": _table, "list": list, "zip": zip, "range": range}


def render_text(template: str, results: dict, *, source: str = "template") -> str:
    """``template`` with every ``{{ expression | format }}`` replaced by its value over ``results`` (and ``runs``:
    ``[(run, result)]`` of those of :data:`RUNS`, in its order).

    ``ValueError`` naming the field and the template for an expression that fails.
    """
    namespace = {**HELPERS, **results, "runs": [(name, results[name]) for name in RUNS if name in results]}

    def value(m: re.Match) -> str:
        expr, _, spec = m.group(1).partition(" | ")
        try:
            v = eval(expr.strip(), {"__builtins__": {}}, namespace)  # noqa: S307 (the project's own templates)
            return format(v, spec.strip()) if spec else str(v)
        except Exception as e:  # any failure is a broken page: say where
            raise ValueError(f"{source}: {{{{{m.group(1).strip()}}}}} failed: {type(e).__name__}: {e}") from None

    return _FIELD.sub(value, template)


def _depth_profiles(results: dict, path: Path) -> Path | None:
    """The three architectures' intermodulation against relative depth (their reproduce runs, post-nonlinearity)."""
    runs = {"reproduce": "ResNet", "reproduce_vgg": "VGG", "reproduce_vit": "ViT"}
    if not all(r in results for r in runs):
        return None
    profiles: dict[str, dict] = {"share of the units' AC power at intermodulation (mean)": {},
                                 "fraction of units that respond at any intermodulation": {}}
    for run, arch in runs.items():
        posts = results[run]["layers_post"]
        names = list(posts)
        depth = [i / max(1, len(names) - 1) for i in range(len(names))]
        label = f"{results[run]['settings']['model']['label']} ({arch})"
        share = [posts[n]["effects"]["share"]["intermodulation"] for n in names]
        frac = [posts[n]["any_intermodulation"] for n in names]
        profiles["share of the units' AC power at intermodulation (mean)"][label] = (depth, share, names)
        profiles["fraction of units that respond at any intermodulation"][label] = (depth, frac, names)
    from ssvepjax.report.plots import plot_depth_profiles

    return Path(plot_depth_profiles(profiles, str(path), title="Intermodulation of the two halves against depth, "
                                    "after each nonlinearity (the stored reproduce runs)"))


#: Figures drawn from several stored runs: ``{path under docs/: function(results, path)}``.
FIGURES = {"findings/architectures_depth.png": _depth_profiles}


def _pages(templates: Path, out: Path) -> list[tuple[Path, Path]]:
    return [(t, out / t.relative_to(templates)) for t in sorted(templates.rglob("*.md"))]


_NOTICE = "<!-- rendered by `ssvepjax results --render` from {src}: edit the template, not this page -->\n"


def render(templates: str | Path = TEMPLATES, out: str | Path = _REPO / "docs", root: str | Path = RESULTS, *,
           write: bool = True) -> dict[Path, str]:
    """Render every template under ``templates`` to the same relative path under ``out``.

    Returns ``{page: text}``; with ``write`` the pages are written (atomically).
    """
    results = load_results(root)
    if write:
        for rel, draw in FIGURES.items():
            (Path(out) / rel).parent.mkdir(parents=True, exist_ok=True)
            draw(results, Path(out) / rel)
    pages = {}
    for src, dst in _pages(Path(templates), Path(out)):
        text = _NOTICE.format(src=src.relative_to(_REPO) if src.is_relative_to(_REPO) else src.name)
        text += render_text(src.read_text(), results, source=str(src.name))
        pages[dst] = text
        if write:
            dst.parent.mkdir(parents=True, exist_ok=True)
            write_text(dst, text)
    return pages


def stale_entries(results: dict) -> dict[str, list[str]]:
    """``{run: the entries of its stored code fingerprint that differ now}`` for stored results with provenance
    (``report.origin.stale_modules`` for each), the current code hashed once for all of them."""
    now = code_fingerprint({k for r in results.values() for k in r["provenance"]["code"]})
    return {name: sorted(k for k, h in r["provenance"]["code"].items() if now.get(k) != h)
            for name, r in results.items()}


def check(root: str | Path = RESULTS, templates: str | Path = TEMPLATES, out: str | Path = _REPO / "docs", *,
          names: Sequence[str] = tuple(RUNS)) -> list[str]:
    """Everything that is not current (module docstring), one line each; empty when all is current."""
    root = Path(root)
    problems = []
    results = load_results(root)
    for name in names:
        if name not in results:
            problems.append(f"{name}: no stored result ({root / name / (_experiment_of(name) + '.json')})")
    current = {}
    for name, result in results.items():
        prov = result.get("provenance")
        if not prov or "code" not in prov:
            problems.append(f"{name}: no provenance (stored by older code): run `ssvepjax results --run {name}`")
        else:
            current[name] = result
    for name, stale in stale_entries(current).items():
        prov = current[name]["provenance"]
        if stale:
            problems.append(f"{name}: stale, written at commit {str(prov.get('commit'))[:10]}; code changed since: "
                            f"{', '.join(stale[:6])}{' ...' if len(stale) > 6 else ''}")
    if Path(templates).exists():
        for page, text in render(templates, out, root, write=False).items():
            if not page.exists() or page.read_text() != text:
                problems.append(f"{page}: out of date with the stored results: run `ssvepjax results --render`")
    return problems


def run_all(names: Sequence[str] = tuple(RUNS), *, quick: bool = False, root: str | Path = RESULTS,
            extra: Sequence[str] = ()) -> dict[str, float]:
    """Run each run of :data:`RUNS` into ``<root>/<run>`` (``--quick``: ``<root>/<run>_quick``), each in its own
    process.

    Returns ``{run: wall seconds}``; raises ``RuntimeError`` naming the run that failed.
    """
    seconds = {}
    for name in names:
        experiment, options = RUNS.get(name, (name, ()))
        out = Path(root) / (f"{name}_quick" if quick else name)
        argv = ["--out", str(out), "--no-progress", *(["--quick"] if quick else []), *options, *extra]
        t0 = time.time()
        print(f"== {name}: {experiment} {' '.join(argv)}", flush=True)
        code = f"from ssvepjax.experiments import framework; framework.script({experiment!r})"
        done = subprocess.run([sys.executable, "-c", code, *argv])
        seconds[name] = round(time.time() - t0, 1)
        if done.returncode != 0:
            raise RuntimeError(f"experiment {name} failed (exit {done.returncode}) after {seconds[name]} s")
        print(f"== {name}: {seconds[name]} s", flush=True)
    return seconds
