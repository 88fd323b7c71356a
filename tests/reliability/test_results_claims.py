"""Every claim a results file makes is checked: label, precision, option, model, weights (claimed and
loaded), inputs and output shapes agree with each other and with the cases, or the file is refused
(exit 2) naming the field. A file labelled fp32 whose precision says fp16 was judged by the lenient
fp16 policy."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from harness.parity import steps
from harness.results import ResultsError
from tests import runs

HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
PRECISIONS = st.sampled_from(["fp32", "fp16", "FP16", "fp8", "int8", ""])
OPTIONS = st.sampled_from(["", "ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "cpu_only", "fp32", "fp16",
                           "fp16-storage", "GPU"])
NAMES = st.sampled_from(["torch", "onnxruntime", "coreml", "coreml-emulated", "torch-replay", "tflite"])


def _label(name: str, precision: str, option: str) -> str:
    return f"{name}@{precision}[{option}]" if option else f"{name}@{precision}"


@st.composite
def mutations(draw):
    """(file index, dotted field, new value): one field of one results file, changed to disagree."""
    index = draw(st.integers(0, len(runs.LABELS) - 1))
    label = list(runs.LABELS)[index]
    precision, option = runs.LABELS[label]
    loaded = runs.COREML_WEIGHTS[precision] if label.startswith("coreml") else None
    field = draw(st.sampled_from(["backend.label", "backend.precision", "backend.option", "model.name",
                                  "model.weights_sha256", "model.loaded_weights_sha256", "inputs.sha256",
                                  "inputs.seed", "inputs.count", "outputs.score"]))
    if field == "backend.label":  # (torch and onnxruntime at fp32 are both consistent claims: not a disagreement)
        value = draw(st.builds(_label, NAMES, PRECISIONS.filter(bool), OPTIONS).filter(
            lambda v: v != label and not (index == 0 and v == "onnxruntime@fp32")))
    elif field == "backend.precision":
        value = draw(PRECISIONS.filter(lambda p: p != precision))
    elif field == "backend.option":
        value = draw(OPTIONS.filter(lambda o: o != option))
    elif field == "model.name":
        value = draw(st.text(min_size=1, max_size=12).filter(lambda n: n != "synthetic"))
    elif field in ("model.weights_sha256", "inputs.sha256"):
        value = draw(HEX.filter(lambda h: h != runs.WEIGHTS))
    elif field == "model.loaded_weights_sha256":  # another precision's, another model's, or none said
        value = draw((st.sampled_from([None, *runs.COREML_WEIGHTS.values()]) | HEX).filter(lambda v: v != loaded))
    elif field == "inputs.seed":
        value = draw(st.integers(0, 2**63 - 1).filter(lambda s: s != 3))
    elif field == "inputs.count":
        value = draw(st.integers(1, 10**6).filter(lambda c: c != 6))
    else:  # outputs.score: the same data under another shape
        value = draw(st.sampled_from([[6, 4], [6, 1, 4], [6, 2, 2, 1], [6, 4, 1]]))
    return index, field, value


def _mutate(doc: dict, field: str, value) -> dict:
    section, key = field.split(".")
    if section == "outputs":
        doc["outputs"][key]["shape"] = value
    elif value is None:
        doc[section].pop(key, None)
    else:
        doc[section][key] = value
    return doc


@given(mutation=mutations())
def test_a_results_field_changed_to_disagree_is_refused_naming_it(tmp_path_factory, mutation):
    index, field, value = mutation
    folder = runs.write(tmp_path_factory.mktemp("run"))
    done = steps.read_results([folder])
    path = folder / done.results[index].file_name
    path.write_text(json.dumps(_mutate(json.loads(path.read_text()), field, value)))
    with pytest.raises(ResultsError) as refused:
        again = steps.read_results([folder])
        steps.compare(again.cases, again.results)
    message = str(refused.value)
    section, key = field.split(".")
    assert key in message, message
    if field in ("backend.precision", "backend.option", "model.name", "model.weights_sha256",
                 "model.loaded_weights_sha256", "inputs.sha256", "inputs.seed", "inputs.count"):
        assert field in message, message


def test_the_untouched_run_is_compared(tmp_path):
    done = steps.read_results([runs.write(tmp_path)])
    assert steps.compare(done.cases, done.results)


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_a_label_that_says_fp32_with_a_precision_that_says_fp16_exits_2(tmp_path, precision):
    """The reported attack: `coreml@fp32[ALL]` with precision fp16 was judged by the fp16 policy."""
    folder = runs.write(tmp_path)
    path = folder / "coreml_fp16_CPU_AND_NE.json"
    doc = json.loads(path.read_text())
    doc["backend"] = {"label": "coreml@fp32[ALL]", "precision": "fp16", "option": "ALL"}
    if precision == "fp32":  # the label's precision, and the fp32 export's weights: accepted
        doc["backend"]["precision"] = "fp32"
        doc["model"]["loaded_weights_sha256"] = runs.COREML_WEIGHTS["fp32"]
    path.write_text(json.dumps(doc))
    proc = subprocess.run([sys.executable, "-m", "harness", "compare", str(folder)], capture_output=True, text=True,
                          timeout=120)
    if precision == "fp32":
        assert proc.returncode in (0, 1) and "coreml@fp32[ALL] vs torch@fp32" in proc.stdout, proc.stderr
        return
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "backend.precision 'fp16'" in line and "'coreml@fp32[ALL]' says precision 'fp32'" in line


def test_a_device_that_loaded_other_weights_is_refused(tmp_path):
    """The claimed weights are the fixture's; the loaded ones are another model's: not compared."""
    done = runs.run()
    phone = dataclasses.replace(done.results[2], loaded_weights_sha256="c3" * 32)
    with pytest.raises(ResultsError, match=r"loaded CoreML weights c3c3.*model.loaded_weights_sha256.*another model"):
        steps.compare(done.cases, (*done.results[:2], phone))


# -- the allowance's scale, and a run named twice ------------------------------------------------------

@given(index=st.sampled_from([1, 2]), first=st.booleans(), scale=st.floats(0.0, 1e30))
def test_activations_claimed_by_a_backend_that_cannot_measure_them_are_refused(index, first, scale):
    """Only torch measures what the model's layers saw. A device's file claiming it, named first as the
    reference, set the scale of every allowance (1e6: anything passed)."""
    import numpy as np

    done = runs.run()
    liar = dataclasses.replace(done.results[index], activations=np.full(len(done.cases.cases), scale))
    others = [r for k, r in enumerate(done.results) if k != index]
    with pytest.raises(ResultsError, match=r"claims activations, but only torch measures"):
        steps.compare(done.cases, (liar, *others) if first else (*others, liar))


def test_the_torch_run_s_activations_are_accepted(tmp_path):
    import numpy as np

    done = runs.run()
    measured = dataclasses.replace(done.results[0], activations=np.full(len(done.cases.cases), 3.0))
    report = steps.compare(done.cases, (measured, *done.results[1:]))
    assert report.comparisons and report.status != "FAILED"


@given(twice=st.sampled_from(list(runs.LABELS)), how=st.sampled_from(["file twice", "folder and its file",
                                                                        "a copy", "the object twice"]))
def test_a_run_named_twice_is_refused_not_compared_with_itself(tmp_path_factory, twice, how):
    """`compare torch.json torch.json` judged torch against itself and said PASSED, exit 0."""
    import shutil

    folder = runs.write(tmp_path_factory.mktemp("run"))
    name = steps.read_results([folder]).results[list(runs.LABELS).index(twice)].file_name
    with pytest.raises(ResultsError, match="named twice"):
        if how == "the object twice":
            done = runs.run()
            steps.compare(done.cases, (*done.results, done.results[list(runs.LABELS).index(twice)]))
        elif how == "a copy":
            copy = shutil.copy(folder / name, folder.parent / "copy.json")
            again = steps.read_results([folder, copy])
            steps.compare(again.cases, again.results)
        else:
            paths = [folder / name, folder / name] if how == "file twice" else [folder, folder / name]
            again = steps.read_results(paths)
            steps.compare(again.cases, again.results)


def test_compare_of_one_file_twice_exits_2_and_parity_refuses_a_backend_named_twice(tmp_path):
    from harness import cli

    folder = runs.write(tmp_path / "run")
    assert cli.main(["compare", str(folder / "torch_fp32.json"), str(folder / "torch_fp32.json")]) == 2
    assert cli.main(["parity", "--backends", "torch,onnxruntime,torch", "--artifacts", str(tmp_path / "art")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # refused before any work


class _Synthetic(nn.Module):
    """A module with the synthetic run's outputs (p: 4 probabilities, score: 2x2), for its spec."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 8)

    def forward(self, x):
        h = self.lin(x)
        return torch.sigmoid(h[:, :4]), h[:, 4:].reshape(-1, 2, 2)


def _synthetic_spec():
    from harness import api

    return api.describe("synthetic", lambda: api.seeded(_Synthetic), inputs={"x": (None, 3)},
                        outputs={"p": (None, 4), "score": (None, 2, 2)}, decision="threshold", decision_output="p")


READINGS = {"policy": st.sampled_from(["fp16", "fp32"]), "decision": st.sampled_from(["none", "argmax"]),
            "threshold": st.floats(0.0, 1.0).filter(lambda t: t != 0.5), "outputs": st.just(["p"]),
            "decided_output": st.just("score")}


@given(key=st.sampled_from(sorted(READINGS)), data=st.data())
def test_a_cases_file_that_says_how_to_judge_otherwise_than_the_model_is_refused(tmp_path_factory, key, data):
    """`reading.policy: fp16` in cases.json judged every pair by decisions alone; an output left out of
    `reading.outputs` was never compared. When the model is known, its own reading is the one."""
    folder = runs.write(tmp_path_factory.mktemp("run"))
    path = folder / "cases.json"
    doc = json.loads(path.read_text())
    doc["reading"][key] = data.draw(READINGS[key])
    if key == "outputs":
        doc["reading"]["output_shapes"] = {"p": [4]}
    path.write_text(json.dumps(doc))
    done = steps.read_results([folder])
    with pytest.raises(ResultsError, match=f"reading.{key}"):
        steps.compare(done.cases, done.results, spec=_synthetic_spec())
    if key != "decided_output":  # unknown to the harness, the model's reading cannot be checked: judged as said
        steps.compare(done.cases, done.results)


def test_the_model_s_own_reading_is_accepted(tmp_path):
    done = steps.read_results([runs.write(tmp_path)])
    assert steps.compare(done.cases, done.results, spec=_synthetic_spec()).comparisons
