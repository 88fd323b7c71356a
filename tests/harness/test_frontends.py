"""Both CoreML frontends (torch.jit.trace and torch.export) convert, and agree with torch and each other."""

from __future__ import annotations

import dataclasses

import pytest

from harness.errors import UsageError
from harness.frontends import compare_frontends
from harness.zoo import ZOO, spec


@pytest.mark.parametrize("name", ["zoo-transformer", "zoo-conv1d-bn"])
def test_trace_and_export_conversions_agree(name, tmp_path):
    result = compare_frontends(spec(ZOO[name]), tmp_path, n=8)
    assert not result.failed, result.failed
    assert [c.candidate for c in result.comparisons] == [
        "coreml-emulated[trace]", "coreml-emulated[export]", "coreml-emulated[export]"]
    assert all(c.verdict == "pass" for c in result.comparisons), [(c.pair, c.max_abs) for c in result.comparisons]
    assert result


def test_the_frontend_is_part_of_the_contract_and_of_the_export(tmp_path):
    model = spec(ZOO["zoo-norm-mlp"])
    with pytest.raises(UsageError, match="unknown frontend"):
        dataclasses.replace(model, frontend="onnx")
    from harness.export import export_model

    manifest = export_model(dataclasses.replace(model, frontend="export"), tmp_path / "m", targets=[("coreml", "fp32")])
    assert manifest.artifact("coreml", "fp32").details["frontend"] == "export"
