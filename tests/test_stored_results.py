"""Tests for ssvepjax.experiments.results: pages rendered from stored results, and the check of what is current."""

import math

import pytest

import ssvepjax as sj
from ssvepjax.experiments import results as R
from ssvepjax.report.origin import trace_code


def _store(root, name, value, *, traced=True):
    with trace_code() as used:
        sj.halves(4, 4)
    store = sj.experiments.Store(root / name, {"x": 1}, name=name, trace=used if traced else None)
    store.write({"value": value, "per_seed": [0.5, 0.7], "table": {"a/b": {"f1": 0.25}}})


def test_render_quotes_stored_numbers(tmp_path):
    _store(tmp_path, "demo", 0.123456)
    res = R.load_results(tmp_path)
    text = R.render_text("v = {{ demo.value | .3f }}, mean {{ mean(demo.per_seed) | .2f }}, "
                         "{{ pct(demo.table['a/b'].f1) }}, n {{ len(demo.per_seed) }}", res)
    assert text == "v = 0.123, mean 0.60, 25%, n 2"
    table = R.render_text("{{ table([{'k': 'x', 'v': demo.value}], [('name', 'k'), ('value', 'v')], 2) }}", res)
    assert table.splitlines() == ["| name | value |", "|---|---|", "| x | 0.12 |"]
    with pytest.raises(ValueError, match=r"page.md: \{\{demo.nope\}\} failed: AttributeError"):
        R.render_text("{{demo.nope}}", res, source="page.md")
    with pytest.raises(ValueError, match="NameError"):  # no builtins beyond the helpers
        R.render_text("{{ open('x') }}", res)


def test_render_and_check_find_what_is_not_current(tmp_path):
    root, templates, out = tmp_path / "results", tmp_path / "templates", tmp_path / "site"
    _store(root, "demo", math.nan)
    templates.mkdir()
    (templates / "page.md").write_text("demo: {{ demo.value }}\n")
    pages = R.render(templates, out, root)
    assert list(pages) == [out / "page.md"] and (out / "page.md").read_text().endswith("demo: nan\n")
    assert R.check(root, templates, out, names=["demo"]) == []
    assert R.check(root, templates, out, names=["demo", "other"]) == [
        f"other: no stored result ({root / 'other' / 'other.json'})"]
    # A page edited by hand, or left behind by a new result, is out of date.
    (out / "page.md").write_text("demo: 0.5\n")
    assert any("page.md: out of date" in p for p in R.check(root, templates, out, names=["demo"]))
    R.render(templates, out, root)
    # A result whose code changed since (its fingerprint no longer matches) is stale.
    stored = sj.read_json(root / "demo" / "demo.json")
    stored["provenance"]["code"]["ssvepjax.tagging.masks:halves"] = "0" * 16
    sj.write_json(root / "demo" / "demo.json", stored)
    problems = R.check(root, templates, out, names=["demo"])
    assert len(problems) == 1 and "demo: stale" in problems[0] and "ssvepjax.tagging.masks:halves" in problems[0]
    del stored["provenance"]
    sj.write_json(root / "demo" / "demo.json", stored)
    assert "no provenance" in R.check(root, templates, out, names=["demo"])[0]


def test_published_pages_are_rendered_from_the_stored_results():
    # Every page under docs/ that has a template is exactly what the template renders over docs/results now: a number
    # typed into a page, or a page left behind by a new stored result, fails here (`ssvepjax results --render`).
    pages = R.render(write=False)
    assert len(pages) >= 12
    assert [str(p) for p, text in pages.items() if not p.exists() or p.read_text() != text] == []


def test_every_stored_result_is_of_the_current_code():
    # Each stored result under docs/results names its commit and configuration and fingerprints the code it ran: a
    # change to any definition it ran makes it stale here until `ssvepjax results --run <run>` stores it again (the
    # same comparison as `report.origin.stale_modules`, with the current code hashed once for every result).
    results = R.load_results()
    assert len(results) >= 10
    for name, result in results.items():
        prov = result.get("provenance")
        assert prov and prov["code"] and prov["config"] and len(prov["commit"]) == 40, name
    assert {name: keys for name, keys in R.stale_entries(results).items() if keys} == {}
