"""KNOWN_FAILURES explains a case only when both its id and its failure match the entry."""

from __future__ import annotations

from tests.conformance.conftest import explain_failure

RESAMPLE = ("coremltools/converters/mil/mil/ops/tests/iOS15/test_image_resizing.py::TestResample::"
            "test_builder_to_backend_smoke[compute_unit=ComputeUnit.CPU_ONLY-"
            "backend=BackendConfig(backend='mlprogram', precision='{}', opset_version=<AvailableTarget.iOS15: 6>)-"
            "coordinates_dtype=<class 'numpy.int32'>]")


def test_the_fp32_resample_cast_count_is_explained():
    assert "fp16 compute-precision pass" in explain_failure(RESAMPLE.format("fp32"), "AssertionError: assert 0 == 2")


def test_another_failure_of_the_same_case_is_not_explained():
    assert explain_failure(RESAMPLE.format("fp32"), "AssertionError: assert 1 == 2") is None


def test_the_same_failure_at_fp16_is_not_explained():
    assert explain_failure(RESAMPLE.format("fp16"), "AssertionError: assert 0 == 2") is None
