"""The kit's models through the harness: each passes fp32 parity on onnxruntime and the emulator.

The harness's own tests use tests/user_model/; these hold the kit's registered models to the same run.
"""

from __future__ import annotations

import pytest

from harness.backends import parse_backends
from harness.parity import steps
from harness.report.text import format_report


#: trendsplit-gru is slow only to export: torch's ONNX exporter unrolls the GRU over 100 steps under
#: fake tensors (22 s of a 2-core run). Its ops stay in the default run (test_ops_recurrent, zoo-bilstm).
@pytest.mark.parametrize("model", ["trendsplit", pytest.param("trendsplit-gru", marks=pytest.mark.slow),
                                   "fp16-stress"])
def test_every_kit_model_passes_fp32_parity_on_onnxruntime_and_the_emulator(shared_export, model):
    from harness.models import get_model

    spec = get_model(model)
    report = steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp32"), n=150, seed=0,
                          folder=shared_export(spec)[1])
    assert report, format_report(report)
    assert len(report.comparisons) == 2
