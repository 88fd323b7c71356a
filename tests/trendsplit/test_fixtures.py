"""Golden fixtures: committed files match the code, regeneration is deterministic and atomic."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.fixtures import beyond_fp32
from trendsplit import fixtures
from trendsplit.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated():
    return fixtures.generate()


def test_committed_fixtures_match_the_code():
    drift = fixtures.check(fixtures.FIXTURES)
    assert drift, drift.render()
    assert drift.render().endswith(f"fixtures match the code ({len(list(fixtures.FIXTURES.glob('*.json')))} files)")


def test_generation_is_deterministic(generated):
    fixtures.POSTERIOR_MEMO.clear()  # computed afresh, not remembered from the first generation
    assert fixtures.generate() == generated


def test_every_rule_has_a_golden_case(generated):
    cases = json.loads(generated[fixtures.ENCODING_FILE])["cases"]
    assert {c["error"] for c in cases if "error" in c} == {
        "bad_point", "too_few_points", "too_many_points", "non_finite", "unsorted_x", "zero_x_range",
        "encoding_overflow"}
    assert sum("x_bits" in c for c in cases) > 150


def test_v2_cases_cover_every_rule_and_the_step_edges(generated):
    cases = json.loads(generated[fixtures.ENCODING_FILES[2]])["cases"]
    assert {c["error"] for c in cases if "error" in c} == {
        "bad_point", "too_few_points", "too_many_points", "non_finite", "unsorted_x", "zero_x_range",
        "encoding_overflow"}
    assert all(("dx_bits" in c) == ("x_bits" in c) for c in cases)
    assert sum(c["name"].startswith("v2_") for c in cases) >= 9


def test_v1_cases_are_v2s_first_two_channels(generated):
    v1 = {c["name"]: c for c in json.loads(generated[fixtures.ENCODING_FILE])["cases"]}
    v2 = {c["name"]: c for c in json.loads(generated[fixtures.ENCODING_FILES[2]])["cases"]}
    assert set(v1) <= set(v2)
    for name, case in v1.items():
        assert {k: v2[name].get(k) for k in case} == case


def test_v3_cases_are_v2s_with_the_noise_channels_and_their_edges(generated):
    v2 = {c["name"]: c for c in json.loads(generated[fixtures.ENCODING_FILES[2]])["cases"]}
    v3 = {c["name"]: c for c in json.loads(generated[fixtures.ENCODING_FILES[3]])["cases"]}
    assert set(v2) <= set(v3) and sum(name.startswith("v3_") for name in v3) >= 12
    for name, case in v2.items():
        assert {k: v3[name].get(k) for k in case} == case
        assert ("res_bits" in v3[name]) == ("x_bits" in case)
    nu = {v3[n]["nu_bits"][0] for n in ("v3_flat_at_the_floor", "v3_misread_at_the_cap")}
    assert {float(np.uint32(b).view(np.float32)) for b in nu} == {2.0**-3, 2.0**5}


def test_each_model_fixture_names_its_encoding_version(generated):
    for name, version, channels in (("model_trendsplit.json", 1, 2), ("model_trendsplit-v2.json", 2, 4),
                                    ("model_trendsplit-v3.json", 3, 7), ("model_trendsplit-v3b.json", 3, 7)):
        doc = json.loads(generated[name])
        assert doc["provenance"]["encoding_version"] == version
        assert len(doc["cases"][0]["input_bits"]) == channels


def test_provenance_names_seed_versions_and_content_hash(generated):
    prov = json.loads(generated["model_trendsplit.json"])["provenance"]
    assert prov["generator_seed"] == fixtures.GENERATOR_SEED and prov["encoding_version"] == 1
    assert {"torch", "coremltools"} <= set(prov["tool_versions"])
    assert len(prov["content_sha256"]) == 64 and len(prov["weights_sha256"]) == 64


def test_model_fixture_decisions_follow_its_outputs(generated):
    for case in json.loads(generated["model_trendsplit.json"])["cases"]:
        probs = np.array(case["output_bits"], dtype=np.uint32).view(np.float32)
        n = len(case["points"])
        assert case["splits"] == [i for i in range(n - 1) if probs[i] > 0.5]


def test_check_reports_a_drifted_value_readably(tmp_path, capsys):
    for name in ("encoding_cases.json", "model_trendsplit.json"):
        shutil.copy(fixtures.FIXTURES / name, tmp_path / name)
    text = (tmp_path / "encoding_cases.json").read_text()
    doc = json.loads(text)
    case = next(c for c in doc["cases"] if c["name"] == "seed_post_example")
    case["x_bits"][3] += 1
    (tmp_path / "encoding_cases.json").write_text(json.dumps(doc))
    drift = fixtures.check(tmp_path)
    assert not drift
    rendered = drift.render()
    assert "case 'seed_post_example' x_bits: first difference at [3]" in rendered
    assert "content does not match its content_sha256" in rendered


def test_a_killed_regeneration_leaves_the_old_files_intact(tmp_path):
    old = {name: f"old {name}\n" for name in ("encoding_cases.json", "model_trendsplit.json")}
    for name, text in old.items():
        (tmp_path / name).write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "trendsplit", "fixtures", "regenerate", "--dir",
                             str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stderr:  # kill it mid-run: after the encoding cases, during the model
        if "running trendsplit through torch" in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == old


def test_regenerate_then_check_via_the_cli(tmp_path, capsys):
    assert main(["fixtures", "regenerate", "--dir", str(tmp_path)]) == 0
    assert main(["fixtures", "check", "--dir", str(tmp_path)]) == 0
    assert "fixtures match the code" in capsys.readouterr().out
    (tmp_path / "model_trendsplit.json").unlink()
    assert main(["fixtures", "check", "--dir", str(tmp_path)]) == 1


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """A folder the CLI regenerated, copied by the tests that spoil it."""
    folder = tmp_path_factory.mktemp("regenerated")
    assert main(["fixtures", "regenerate", "--dir", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("content", [b"{}", b"[]", b"null", b'{"provenance": {}, "cases": [{}]}',
                                     b'{"provenance": {}, "cases": [5]}', b"\xff\xfe", b"{"])
def test_check_names_a_malformed_fixture_in_one_line(regenerated, tmp_path, capsys, content):
    shutil.copytree(regenerated, tmp_path, dirs_exist_ok=True)
    (tmp_path / "model_trendsplit.json").write_bytes(content)
    assert main(["fixtures", "check", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "DRIFT: model_trendsplit.json: " in out and "FAILED" in out
    (tmp_path / "model_trendsplit.json").unlink()
    (tmp_path / "model_trendsplit.json").mkdir()
    assert main(["fixtures", "check", "--dir", str(tmp_path)]) == 1
    assert "not a regular file" in capsys.readouterr().out


def _rewrite(path: Path, edit) -> None:
    """Edit a fixture's cases and re-seal it (content_sha256), as a regenerated file would be."""
    from harness.fixtures import document

    doc = json.loads(path.read_text())
    edit(doc["cases"])
    provenance = {k: v for k, v in doc["provenance"].items() if k != "content_sha256"}
    path.write_text(document(doc["kind"], provenance, doc["cases"]))


def test_check_reads_the_stored_inputs_and_never_draws_them_again(tmp_path, monkeypatch):
    """A fixture's inputs are data: a generator that now draws other values changes nothing `check` says."""
    shutil.copytree(fixtures.FIXTURES, tmp_path, dirs_exist_ok=True)
    monkeypatch.setattr(fixtures, "_wild", lambda rng: [[1.0, 2.0], [3.0, float(rng.integers(9))]])
    assert fixtures.encoding_fixture(1) != (tmp_path / fixtures.ENCODING_FILE).read_text()  # other draws now
    drift = fixtures.check(tmp_path)
    assert drift, drift.render()


def test_check_recomputes_the_encoding_of_a_stored_point(tmp_path):
    shutil.copytree(fixtures.FIXTURES, tmp_path, dirs_exist_ok=True)

    def move_a_point(cases):
        case = next(c for c in cases if c["name"] == "seed_post_example")
        case["points"][3][1] = float.hex(104.0)  # was 103: the stored bits no longer follow from it

    _rewrite(tmp_path / "encoding_cases.json", move_a_point)
    drift = fixtures.check(tmp_path)
    assert not drift
    assert "encoding_cases.json: case 'seed_post_example' y_bits: first difference at [" in drift.render()


def test_check_recomputes_a_models_input_and_outputs_from_the_stored_points(tmp_path):
    shutil.copytree(fixtures.FIXTURES, tmp_path, dirs_exist_ok=True)

    def swap_inputs(cases):
        cases[0]["input_bits"], cases[1]["input_bits"] = cases[1]["input_bits"], cases[0]["input_bits"]

    _rewrite(tmp_path / "model_trendsplit.json", swap_inputs)
    rendered = fixtures.check(tmp_path).render()
    name = json.loads((tmp_path / "model_trendsplit.json").read_text())["cases"][0]["name"]
    assert f"model_trendsplit.json: case {name!r} input_bits: first difference at [0]" in rendered
    assert f"model_trendsplit.json: case {name!r} output_bits: position" in rendered  # torch ran on the stored input


def test_regenerate_keeps_stored_outputs_within_the_fp32_policy_and_rewrites_others(tmp_path):
    """Outputs are the same reference computed on another CPU when they agree under the fp32 policy:
    `regenerate` keeps them, so regenerating on any machine writes the committed bytes."""
    shutil.copytree(fixtures.FIXTURES, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "model_trendsplit.json"

    def one_ulp(cases):  # what another CPU's kernels do to a reference output
        cases[0]["output_bits"][5] += 1  # a probability: positive, so the next float32 up

    _rewrite(path, one_ulp)
    another_cpu = path.read_bytes()
    assert main(["fixtures", "regenerate", "--dir", str(tmp_path)]) == 0
    assert path.read_bytes() == another_cpu

    def far_off(cases):  # a changed model: beyond the policy
        cases[0]["output_bits"][5] = int(np.float32(0.75).view(np.uint32))

    _rewrite(path, far_off)
    assert main(["fixtures", "regenerate", "--dir", str(tmp_path)]) == 0
    # rewritten with this machine's outputs: the committed ones where it is the committing machine,
    # within float32 rounding of them on any other (a CPU without AVX-512 moved one by 1 ULP)
    committed = json.loads((fixtures.FIXTURES / "model_trendsplit.json").read_text())["cases"]
    rewritten = json.loads(path.read_text())["cases"]
    assert rewritten[0]["output_bits"][5] != int(np.float32(0.75).view(np.uint32))
    assert [c["input_bits"] for c in rewritten] == [c["input_bits"] for c in committed]
    for now, then in zip(rewritten, committed, strict=True):
        stored = np.array(then["output_bits"], np.uint32).view(np.float32)
        assert beyond_fp32(stored, np.array(now["output_bits"], np.uint32).view(np.float32)) is None
    assert fixtures.check(tmp_path)



def test_check_sees_a_nan_stored_as_a_reference_output(tmp_path):
    """NaN compares false with everything: `NaN > tol` let a NaN output pass the old check."""
    shutil.copytree(fixtures.FIXTURES, tmp_path, dirs_exist_ok=True)

    def nan_output(cases):
        cases[0]["output_bits"][2] = 0x7FC00000  # a quiet NaN

    _rewrite(tmp_path / "model_trendsplit.json", nan_output)
    rendered = fixtures.check(tmp_path).render()
    assert "model_trendsplit.json" in rendered and "position 2" in rendered and "nan" in rendered
