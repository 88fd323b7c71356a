"""The kit's models through the harness: fp32 parity on onnxruntime and the emulator, and the clamp in fp16.

The harness's own tests use tests/user_model/; these hold the kit's registered models to the same runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.backends import parse_backends
from harness.mil import PROFILES, Interpreter, load_program
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


def test_a_burst_of_readings_stays_finite_in_fp16(trendsplit, trendsplit_export):
    """Readings 1 s apart, 4 s different: encoded y ~ 97,000, past float16 max 65,504 (clamped)."""
    from trendsplit.encoding import encode

    manifest, folder = trendsplit_export
    x0 = 20_000.0
    points = [[x0, 0.0], [x0 + 1 / 86_400, 4.0], [x0 + 2 / 86_400, 4.5]]
    batch = encode(points)[None]
    assert np.abs(batch).max() > 65_504
    program = load_program(folder / manifest.artifact("coreml", "fp16").path)
    out = Interpreter(program, PROFILES["fp16"]).run({"points": batch}).outputs["split_probs"]
    assert np.isfinite(out).all()


def test_the_kits_series_charts_frame_confident_reversals(shared_export):
    """fp16-stress's watch logs in the HTML report: series whose decision reversed with confidence come first,
    framed in red (the harness's own tests run models without (x, y) series)."""
    from harness import api
    from harness.backends import parse_backends
    from harness.parity import steps
    from harness.report import html as html_report

    spec = api.model("fp16-stress")
    folder = shared_export(spec)[1]
    report = steps.parity(spec, parse_backends("torch,coreml-emulated@fp16[fp16-storage]"), n=120, seed=0,
                          folder=folder)
    series = html_report.render(report).split("<h2 id=series>")[1].split("<h2 ")[0]
    assert "framed in red" in series and series.count("<img") == 1
