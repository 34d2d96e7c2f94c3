"""How an experiment is declared, configured and run: one configuration type, one command line, one store.

An experiment is a module ``ssvepjax.experiments.<name>`` (named in :data:`NAMES`) holding

- ``Config``: a frozen dataclass built on :class:`ExperimentConfig` (JSON-able fields, the CI size in ``QUICK``,
  one :meth:`~ExperimentConfig.key`), or on :class:`~ssvepjax.experiments.config.JobConfig` when it trains and
  probes the job's network;
- ``run(config, store) -> dict``: computes, keeps its finished pieces in ``store`` (a
  :class:`~ssvepjax.experiments.store.Store`: resumable steps and arrays, the final result with its provenance)
  and draws its figures with ``ssvepjax.report.plots``;
- optionally ``report(result) -> str``: what the command line prints at the end.

The benchmarks (:data:`BENCHMARKS`) are modules of the same form, with the same command line; they are not results,
so ``ssvepjax results`` does not rerun them.

A script in ``experiments/`` is its docstring (the command, its run time, what it writes) and a call of
:func:`main`. The command line of every experiment: ``--quick`` (the CI size), ``--out``, ``--no-progress``,
``--set field.sub=value`` for any field (Python literals; big_vision's ``--config.field``), the job's options when
the configuration is a ``JobConfig``, and one option per plain field of the experiment's own configuration
(``--seeds 0 1 2``, ``--fractions 0.2 0.5``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ssvepjax.report.origin import config_key

__all__ = ["BENCHMARKS", "NAMES", "ExperimentConfig", "entry", "experiment", "main", "parse", "parser", "script",
           "with_overrides"]

#: Every experiment of the library, in the order the results are presented (``ssvepjax results`` reruns them so).
NAMES = ("reproduce", "controls", "where", "statistics", "invariance", "detection_limit", "pruning_curves",
         "pruning_ground_truth", "explanations", "attribution", "train_regularized", "follow_up")
#: Benchmarks: experiments of the same form that measure the library's speed and memory (not stored results).
BENCHMARKS = ("benchmark_probe", "benchmark_large")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's configuration (static, JSON-able fields).

    Attributes:
        quick: the CI size (set by :meth:`ci`; ``QUICK`` holds the fields it changes).
        progress: show progress bars (no effect on results).

    Three class attributes say how fields behave: ``QUICK`` is ``{field: value}`` of the CI size; ``RUNTIME`` names
    the fields that do not change results (left out of :meth:`key`); ``RULE`` names the fields that change only the
    words said about stored pieces (the verdict rule's alpha and margin; left out of :meth:`piece_key`).
    """

    QUICK: ClassVar[Mapping[str, Any]] = {}
    RUNTIME: ClassVar[tuple[str, ...]] = ("quick", "progress")
    RULE: ClassVar[tuple[str, ...]] = ()

    quick: bool = False
    progress: bool = True

    @classmethod
    def ci(cls, **overrides):
        """The CI size: ``QUICK`` with ``overrides`` on top, ``quick=True``."""
        return cls(**{**cls.QUICK, **overrides, "quick": True})

    def key(self) -> str:
        """12 hex digits naming every setting that changes results (stored pieces are keyed by it)."""
        return config_key({k: v for k, v in dataclasses.asdict(self).items() if k not in self.RUNTIME})

    def piece_key(self) -> str:
        """:meth:`key` without the ``RULE`` fields: stored pieces keyed by it serve every verdict rule."""
        return config_key({k: v for k, v in dataclasses.asdict(self).items()
                           if k not in (*self.RUNTIME, *self.RULE)})


def experiment(name: str) -> types.ModuleType:
    """The module ``ssvepjax.experiments.<name>``; ``ValueError`` naming the choices for an unknown name."""
    if name not in NAMES + BENCHMARKS and name != "job":
        raise ValueError(f"unknown experiment {name!r}; experiments: {', '.join(NAMES + BENCHMARKS)}")
    return importlib.import_module(f"ssvepjax.experiments.{name}")


def _plain_types(hint) -> tuple[type, bool, bool]:
    """``(element type, is a tuple, may be None)`` of a field's annotation, for its command-line option."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is tuple:
        elem = typing.get_args(hint)[0] if typing.get_args(hint) else str
        return elem, True, optional
    return hint, False, optional


def _field_options(p: argparse.ArgumentParser, cls, skip: set[str]) -> list[str]:
    """One option per plain field of ``cls`` (numbers, strings, booleans and tuples of them); returns their names."""
    hints = typing.get_type_hints(cls)
    g = p.add_argument_group(f"{cls.__module__.rsplit('.', 1)[-1]} settings")
    added = []
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name in ExperimentConfig.RUNTIME:
            continue
        elem, many, optional = _plain_types(hints[f.name])
        if elem not in (int, float, str, bool):
            continue  # a nested configuration: --set name.field=value
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        if elem is bool and not many:
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"(default {default})")
        else:
            shown = " ".join(map(str, default)) if many and default is not None else default
            g.add_argument(flag, type=elem, nargs="+" if many else None, default=None, metavar=f.name.upper(),
                           help=f"(default {shown}{'; none: omit' if optional else ''})")
        added.append(f.name)
    return added


def parser(name: str, description: str | None = None) -> argparse.ArgumentParser:
    """The command line of experiment ``name`` (module docstring)."""
    from ssvepjax.experiments.config import JobConfig, add_job_arguments

    module = experiment(name)
    cls = module.Config
    p = argparse.ArgumentParser(description=description or (module.__doc__ or name).splitlines()[0])
    if issubclass(cls, JobConfig):
        add_job_arguments(p, default_out=f"runs/{name}", n_images=cls.n_images)
        _field_options(p, cls, {f.name for f in dataclasses.fields(JobConfig)})
    else:
        g = p.add_argument_group("run")
        g.add_argument("--quick", action="store_true", help="the CI size")
        g.add_argument("--out", default=None, help=f"output folder (default runs/{name}, runs/{name}_quick with "
                                                      "--quick)")
        g.add_argument("--no-progress", action="store_true", help="hide progress bars")
        _field_options(p, cls, set())
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="set any field of the configuration, nested ones with dots (model.depth=8), values as "
                        "Python literals")
    return p


def with_overrides(config, assignments: Sequence[str]):
    """``config`` with ``"a.b=value"`` assignments applied (values as Python literals, else strings).

    ``ValueError`` naming the field for an unknown field or a value of the wrong type.
    """
    for a in assignments:
        path, eq, text = a.partition("=")
        if not eq or not path:
            raise ValueError(f"--set takes FIELD=VALUE, got {a!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        config = _set(config, path.split("."), value, path)
    return config


def _set(obj, keys: list[str], value, path: str):
    if not dataclasses.is_dataclass(obj) or keys[0] not in {f.name for f in dataclasses.fields(obj)}:
        raise ValueError(f"--set {path}: no field {keys[0]!r} in {type(obj).__name__}")
    old = getattr(obj, keys[0])
    if len(keys) > 1:
        return dataclasses.replace(obj, **{keys[0]: _set(old, keys[1:], value, path)})
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    ok = (old is None or value is None or isinstance(value, type(old))
          or (isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool)))
    if not ok:
        raise ValueError(f"--set {path}: expected a {type(old).__name__} like {old!r}, got {value!r}")
    return dataclasses.replace(obj, **{keys[0]: value})


def parse(name: str, argv: Sequence[str] | None = None):
    """The configuration of experiment ``name`` from command-line arguments (nothing runs).

    ``ValueError`` naming the option for any invalid setting.
    """
    from ssvepjax.experiments.config import JobConfig, config_from_args

    cls = experiment(name).Config
    args = parser(name).parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None}
    if issubclass(cls, JobConfig):
        base = config_from_args(args, n_images=cls.n_images)
        own = {f.name: given[f.name] for f in dataclasses.fields(cls) if f.name not in
               {g.name for g in dataclasses.fields(JobConfig)} and f.name in given}
        config = cls(**{**{f.name: getattr(base, f.name) for f in dataclasses.fields(JobConfig)},
                        **(cls.QUICK if args.quick else {}), **_tuples(cls, own)})
    else:
        own = {f.name: given[f.name] for f in dataclasses.fields(cls) if f.name in given
               and f.name not in ExperimentConfig.RUNTIME}
        config = (cls.ci if args.quick else cls)(**_tuples(cls, own), progress=not args.no_progress)
    return with_overrides(config, args.set)


def _tuples(cls, values: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def out_dir(name: str, config, argv_out: str | None = None) -> Path:
    """The output folder: ``config.out`` for a job configuration, else ``--out`` or ``runs/<name>[_quick]``."""
    if hasattr(config, "out") and argv_out is None:
        return Path(config.out)
    return Path(argv_out or f"runs/{name}{'_quick' if config.quick else ''}")


def main(name: str, argv: Sequence[str] | None = None) -> dict:
    """Run experiment ``name`` from command-line arguments; returns its result (what it stored).

    Settings are checked before any long work; a ``ValueError`` is raised for a bad one (scripts print it in one
    line through :func:`script`).
    """
    from ssvepjax.experiments.store import Store
    from ssvepjax.report.origin import trace_code

    module = experiment(name)
    config = parse(name, argv)
    args = parser(name).parse_known_args(argv)[0]
    with trace_code() as used:  # the result's code fingerprint: the library code this run executes
        store = Store(out_dir(name, config, getattr(args, "out", None)), config, name=name, trace=used)
        result = module.run(config, store)
    if hasattr(module, "report"):
        print(module.report(result))
    print(f"wrote {store.folder} in {store.seconds():.0f} s")
    return result


def script(name: str) -> None:
    """A script's ``__main__``: :func:`main` on ``sys.argv``; a ``ValueError`` prints one line and exits with 2."""
    try:
        main(name, sys.argv[1:])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def entry(name: str):
    """``(parse_args, main)`` of a script in ``experiments/``: ``parse_args(argv)`` builds the configuration (nothing
    runs), ``main(argv)`` runs the experiment (both default to ``sys.argv``)."""

    def parse_args(argv: Sequence[str] | None = None):
        return parse(name, argv)

    def run_main(argv: Sequence[str] | None = None) -> dict:
        return main(name, argv)

    return parse_args, run_main
