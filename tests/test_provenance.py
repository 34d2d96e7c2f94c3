"""The provenance record stored beside results: commit, dirty tree, configuration, versions, machine."""

import dataclasses
import json
import subprocess
import time

import jax

import ssvepjax as sj


@dataclasses.dataclass(frozen=True)
class _Cfg:
    size: int = 3
    tags: tuple[float, ...] = (6.0, 7.5)


def test_provenance_names_the_commit_and_the_config():
    started = time.time() - 2.0
    p = sj.provenance(_Cfg(), started=started)
    json.dumps(p)  # JSON-able as it is
    assert p["config"] == {"size": 3, "tags": (6.0, 7.5)}
    assert p["versions"]["jax"] == jax.__version__ and p["machine"]["backend"] == jax.default_backend()
    assert p["wall_s"] >= 2.0 and len(p["load_average"]) == 3
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=sj.__path__[0])
    if head.returncode == 0:  # a git checkout (CI's clean clone is one)
        assert p["commit"] == head.stdout.strip() and isinstance(p["dirty"], bool)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, cwd=sj.__path__[0]).stdout
        assert p["dirty"] == bool(status.strip())
    assert sj.provenance({"a": 1})["config"] == {"a": 1} and sj.provenance()["wall_s"] is None


def test_config_key_names_the_settings():
    import hashlib

    # The formula the experiments' stored pieces were keyed by before it had one home: stored runs still resume.
    want = hashlib.sha256(json.dumps({"size": 3, "tags": [6.0, 7.5]}, sort_keys=True).encode()).hexdigest()[:12]
    assert sj.config_key(_Cfg()) == want
    assert sj.config_key(_Cfg(size=4)) != want and len(sj.config_key(_Cfg(size=4))) == 12


def test_code_fingerprint_ignores_prose_and_sees_code(tmp_path):
    from ssvepjax.report import origin as P

    a = tmp_path / "a.py"
    a.write_text('"""Doc."""\n\ndef f(x):\n    """What f does."""\n    return x + 1  # comment\n')
    h = P._source_hash(str(a))
    a.write_text('"""Other words."""\n\n\ndef f(x):\n    """Said otherwise."""\n    return x + 1\n')
    assert P._source_hash(str(a)) == h  # docstrings, comments and blank lines are not code
    a.write_text('"""Doc."""\n\ndef f(x):\n    """What f does."""\n    return x + 2\n')
    assert P._source_hash(str(a)) != h
    now = sj.code_fingerprint(["ssvepjax.spectral.fourier", "ssvepjax.report.io"])
    assert set(now) == {"ssvepjax.spectral.fourier", "ssvepjax.report.io"} and sj.stale_modules(now) == []
    changed = {**now, "ssvepjax.report.io": "0" * 16, "ssvepjax.gone": "1" * 16}
    assert sj.stale_modules(changed) == ["ssvepjax.gone", "ssvepjax.report.io"]
    assert "ssvepjax.report.origin" in sj.provenance()["code"]  # every loaded library module


def test_trace_code_fingerprints_what_ran():
    from ssvepjax.report import origin as P

    with P.trace_code() as used:
        sj.halves(4, 4)
    assert "ssvepjax.tagging.masks:halves" in used.names
    assert not any(n.startswith("ssvepjax.spectral.fourier:") for n in used.names)  # did not run
    fp = sj.code_fingerprint(used.names)
    assert "ssvepjax.tagging.masks:" in fp and fp["ssvepjax.tagging.masks:halves"] == \
        P._module_parts("ssvepjax.tagging.masks")["halves"]
    assert sj.stale_modules(fp) == []
    assert sj.stale_modules({**fp, "ssvepjax.tagging.masks:halves": "0" * 16}) == ["ssvepjax.tagging.masks:halves"]
    assert sj.stale_modules({"ssvepjax.tagging.masks:no_such_function": "0" * 16}) != []
