"""The Linux-side CoreML check: passes on real exports, names what is wrong otherwise."""

from __future__ import annotations

import dataclasses

from harness.coreml_artifact import check_coreml_artifact
from harness.spec import TensorSpec


def test_real_exports_pass_every_rule(trendsplit, trendsplit_export):
    manifest, folder = trendsplit_export
    for precision in ("fp32", "fp16"):
        check = check_coreml_artifact(trendsplit, manifest.artifact("coreml", precision), folder)
        assert check, check.failures
        assert {f.rule for f in check.findings} >= {"input_names", "input_shape", "metadata",
                                                    f"computes_in_{precision}"}


def test_fp16_export_computes_only_in_fp16(trendsplit, trendsplit_export):
    manifest, folder = trendsplit_export
    check = check_coreml_artifact(trendsplit, manifest.artifact("coreml", "fp16"), folder)
    assert set(check.compute_dtypes) == {"FLOAT16"} and check.compute_dtypes["FLOAT16"] >= 10


def test_an_fp32_program_labelled_fp16_is_caught(trendsplit, trendsplit_export):
    manifest, folder = trendsplit_export
    mislabelled = dataclasses.replace(manifest.artifact("coreml", "fp32"), precision="fp16")
    check = check_coreml_artifact(trendsplit, mislabelled, folder)
    assert not check
    assert {f.rule for f in check.failures} == {"computes_in_fp16", "metadata"}


def test_feature_name_drift_is_caught(trendsplit, trendsplit_export):
    manifest, folder = trendsplit_export
    renamed = dataclasses.replace(trendsplit, inputs=(TensorSpec("_1", (None, 2, 100)),),
                                  outputs=(TensorSpec("_27", (None, 100)),))
    check = check_coreml_artifact(renamed, manifest.artifact("coreml", "fp32"), folder)
    assert {f.rule for f in check.failures} == {"input_names", "output_names"}
    assert "expected ['_1']" in next(f.detail for f in check.failures if f.rule == "input_names")
