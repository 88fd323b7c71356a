"""The zoo: architectures people ship, each through export and every backend, judged against torch.

The emulated CoreML backend must pass fp32 parity on every one (a failure here is the
interpreter's bug until shown otherwise); fp16 profiles must run and stay finite; a model
whose outputs are degenerate would make all of that vacuous, so that is checked first.
The torchvision families are slow (about a minute each): `pytest -m slow tests/harness/test_zoo.py`.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import api
from harness.backends.pytorch import TorchBackend
from harness.zoo import ZOO, spec

FAST = ["zoo-transformer", "zoo-attention", "zoo-bilstm", "zoo-conv1d-bn", "zoo-unet", "zoo-resizer",
        "zoo-embedding"]
#: Stateful models run on torch and Core ML alone (ONNX holds no state): tests/harness/test_stateful.py.
STATEFUL = [name for name, entry in ZOO.items() if entry.states]
SLOW = [name for name in ZOO if name not in FAST and name not in STATEFUL]
BACKENDS = "torch,onnxruntime,coreml-emulated"


def _params(names, mark=None):
    return [pytest.param(n, marks=mark) if mark else n for n in names]


@pytest.mark.parametrize("name", _params(FAST) + _params(SLOW, pytest.mark.slow))
def test_zoo_outputs_are_of_order_one(name):
    model = spec(ZOO[name])
    cases = model.make_cases(8, 1)
    out = TorchBackend.of(model).run(cases.feeds)["y"]
    assert np.isfinite(out).all()
    assert 0.05 < np.abs(out).max() < 1e4, np.abs(out).max()
    assert np.ptp(out) > 1e-3  # not one constant for every input


@pytest.mark.parametrize("name", _params(FAST) + _params(SLOW, pytest.mark.slow))
def test_zoo_model_passes_fp32_parity_on_the_emulator(name, harness_export):
    model = spec(ZOO[name])
    report = api.parity(model, BACKENDS, n=8, folder=harness_export(model))
    by = {c.candidate: c for c in report.comparisons}
    emulated = by["coreml-emulated@fp32[fp32]"]
    assert emulated.verdict == "pass", api.format_report(report)
    for label in ("coreml-emulated@fp16[fp16-storage]", "coreml-emulated@fp16[fp16]"):
        assert by[label].non_finite == 0, api.format_report(report)
        # untrained classifiers often pick one class for every case: that is vacuous, and must say so
        assert not by[label].inconclusive or "do not vary with the inputs" in by[label].inconclusive
    onnx = next(r for r in report.runs if r.label == "onnxruntime@fp32")
    if onnx.status == "ran":
        assert by["onnxruntime@fp32"].verdict == "pass", api.format_report(report)
    else:  # a converter's gap is reported by stage, never hidden, and fails the run
        assert onnx.status == "failed" and "onnx@fp32" in onnx.reason and not report


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in ZOO if name not in STATEFUL])
def test_zoo_model_through_executorch_xnnpack_fp32_passes_and_int8_runs(name, harness_export):
    """Every zoo model through ExecuTorch's XNNPACK programs: fp32 passes fp32 parity (a failure is the harness's
    or ExecuTorch's bug until shown otherwise), int8 runs with finite outputs and is judged by its own policy."""
    pytest.importorskip("executorch", reason="the executorch extra is not installed")
    from harness.zoo import EXECUTORCH_BACKENDS, FP32_PROGRAM, INT8_PROGRAM

    model = spec(ZOO[name])
    report = api.parity(model, EXECUTORCH_BACKENDS, n=16, folder=harness_export(model))
    by = {c.candidate: c for c in report.comparisons}
    failed = {r.label: r.reason for r in report.runs if r.status == "failed"}
    if FP32_PROGRAM in failed:  # what ExecuTorch cannot take is named (zoo-depthwise: aten::adaptive_max_pool2d)
        assert "\n" not in failed[FP32_PROGRAM] and "ExecuTorch cannot convert torch op 'aten::" in failed[FP32_PROGRAM]
        return
    assert by[FP32_PROGRAM].verdict == "pass", api.format_report(report)
    assert by[INT8_PROGRAM].policy.name == "int8" and by[INT8_PROGRAM].non_finite == 0, api.format_report(report)


def test_the_documented_executorch_zoo_table_has_every_zoo_model_once():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "docs" / "executorch.md").read_text()
    section = readme.split("`harness.zoo.executorch_table()`", 1)[1].split("\n\n", 2)[1]
    rows = [line.split(" | ")[0].lstrip("| ") for line in section.splitlines() if line.startswith("| zoo-")]
    assert rows == list(ZOO)


@pytest.mark.slow  # tests/harness/test_compression.py holds compression itself to account by default
def test_the_compression_columns_measure_each_variant_of_a_zoo_model(tmp_path):
    from harness.compression import methods
    from harness.zoo import compression_table

    header, rule, row = compression_table(["zoo-norm-mlp"], n=16, folder=str(tmp_path)).splitlines()
    assert header == "| model | family | " + " | ".join(m.name for m in methods()) + " | smallest agreeing |"
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:2] == ["zoo-norm-mlp", "mlp"] and len(cells) == 3 + len(methods())
    assert all(c.split(" KB, ")[1].split("/")[0].isdigit() for c in cells[2:-1])
    assert cells[-1] in [m.name for m in methods()] + ["—"]
    assert (tmp_path / "zoo-norm-mlp" / "compression.json").is_file()
