"""Tests for ssvepjax.experiments.framework and .store: one configuration type, one command line, one result store."""

import dataclasses
import json
import math

import pytest

import ssvepjax as sj
from ssvepjax.experiments import framework as F
from ssvepjax.experiments.store import Store


@dataclasses.dataclass(frozen=True)
class _Cfg(F.ExperimentConfig):
    QUICK = {"seeds": (0,), "fractions": (0.5,)}

    seeds: tuple[int, ...] = (0, 1, 2)
    fractions: tuple[float, ...] = (0.1, 0.5)
    rate: float = 0.1
    name: str | None = None
    model: sj.ModelConfig = sj.ModelConfig()


def test_quick_size_and_key():
    q = _Cfg.ci()
    assert q.quick and q.seeds == (0,) and q.fractions == (0.5,) and q.rate == 0.1
    assert _Cfg.ci(rate=0.2).rate == 0.2 and _Cfg.ci(seeds=(4,)).seeds == (4,)
    # The key names what changes results: not the CI flag or progress bars, every other field.
    assert _Cfg().key() == _Cfg(progress=False).key() == _Cfg(quick=True).key()
    assert _Cfg().key() != _Cfg(rate=0.2).key() != _Cfg(model=sj.ModelConfig(depth=8)).key()
    fields = {k: v for k, v in dataclasses.asdict(_Cfg()).items() if k not in ("quick", "progress")}
    assert _Cfg().key() == sj.config_key(fields) and len(_Cfg().key()) == 12


def test_piece_key_leaves_out_the_rule():
    @dataclasses.dataclass(frozen=True)
    class Ruled(_Cfg):
        RULE = ("alpha",)
        alpha: float = 0.05

    assert Ruled().piece_key() == Ruled(alpha=0.01).piece_key() == _Cfg().key() == _Cfg().piece_key()
    assert Ruled().key() != Ruled(alpha=0.01).key() and Ruled().piece_key() != Ruled(rate=0.2).piece_key()


def test_overrides_set_nested_fields_and_refuse_bad_ones():
    c = F.with_overrides(_Cfg(), ["model.depth=8", "seeds=[3, 4]", "rate=1", "name=abc"])
    assert c.model.depth == 8 and c.seeds == (3, 4) and c.rate == 1 and c.name == "abc"
    with pytest.raises(ValueError, match="no field 'nope'"):
        F.with_overrides(_Cfg(), ["nope=1"])
    with pytest.raises(ValueError, match="model.wdth: no field 'wdth'"):
        F.with_overrides(_Cfg(), ["model.wdth=2"])
    with pytest.raises(ValueError, match="expected a float"):
        F.with_overrides(_Cfg(), ["rate='fast'"])
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        F.with_overrides(_Cfg(), ["rate"])
    with pytest.raises(ValueError, match="depth"):  # the nested configuration still checks itself
        F.with_overrides(_Cfg(), ["model.depth=9"])


def test_field_options_of_the_command_line():
    import argparse

    p = argparse.ArgumentParser()
    added = F._field_options(p, _Cfg, set())
    assert added == ["seeds", "fractions", "rate", "name"]  # the nested model is set with --set model.depth=8
    args = p.parse_args(["--seeds", "1", "2", "--rate", "0.5"])
    assert args.seeds == [1, 2] and args.rate == 0.5 and args.fractions is None and args.name is None


def test_a_job_experiment_parses_its_command_line():
    q = F.parse("reproduce", ["--quick", "--out", "o", "--set", "design.max_order=3"])
    assert q.quick and q.model.depth == 8 and q.n_images == 4 and q.out == "o" and q.design.max_order == 3
    full = F.parse("reproduce", [])
    assert full.n_images == 32 and full.model.depth == 32 and full.out == "runs/reproduce"
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        F.parse("nope", [])


def test_store_steps_arrays_and_result_with_provenance(tmp_path):
    store = Store(tmp_path / "run", _Cfg(), name="demo")
    calls = []

    def compute():
        calls.append(1)
        return {"a": math.nan, "b": [1.0, math.inf]}

    first = store.step("s1", compute)
    again = Store(tmp_path / "run", _Cfg(), name="demo").step("s1", compute)
    assert len(calls) == 1 and math.isnan(first["a"]) and math.isnan(again["a"]) and again["b"] == [1.0, math.inf]
    assert store.has("s1") and not store.has("s2") and store.records("s") == [again]
    store.put("s2", {"x": 1})
    assert store.get("s2") == {"x": 1} and len(store.records()) == 2
    import numpy as np

    store.save_arrays("scores", {"l1": {"stem": np.arange(3.0)}})
    assert np.array_equal(store.load_arrays("scores")["l1"]["stem"], np.arange(3.0)) and store.load_arrays("x") is None
    stored = store.write({"value": math.nan}, tables={"table": [{"k": 1}]})
    raw = json.loads((tmp_path / "run" / "demo.json").read_text())  # strict JSON: the non-finite number is a string
    assert raw["value"] == "nan" and math.isnan(sj.read_json(tmp_path / "run" / "demo.json")["value"])
    prov = stored["provenance"]
    assert prov["experiment"] == "demo" and list(prov["config"]["seeds"]) == [0, 1, 2]
    assert "ssvepjax.experiments.store" in prov["code"] and (tmp_path / "run" / "table.csv").exists()


def test_store_put_into_a_fresh_folder(tmp_path):
    # A run whose first piece is a put (no step before it) still finds its steps/ folder.
    store = Store(tmp_path / "fresh", _Cfg(), name="demo")
    assert store.records() == [] and not store.has("s0_base")
    store.put("s0_base", {"accuracy": 0.5})
    assert store.get("s0_base") == {"accuracy": 0.5} and store.records("s0") == [{"accuracy": 0.5}]


def test_the_json_rule_round_trips_non_finite_numbers(tmp_path):
    obj = {"nan": math.nan, "inf": [math.inf, -math.inf], "none": None, "text": "inf-like", "n": 3}
    sj.write_json(tmp_path / "x.json", obj)
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    back = sj.read_json(tmp_path / "x.json")
    assert math.isnan(back["nan"]) and back["inf"] == [math.inf, -math.inf] and back["none"] is None
    assert back["text"] == "inf-like" and back["n"] == 3
