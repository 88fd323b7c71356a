"""Shared fixtures, Hypothesis profiles and marker handling."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: Set by CI: a missing Swift toolchain fails the run instead of skipping `swift` tests.
REQUIRE_SWIFT = os.environ.get("TRENDSPLIT_REQUIRE_SWIFT") == "1"


def pytest_collection_modifyitems(config, items):
    from harness.backends.coreml import CoreMLBackend

    coreml_reason = CoreMLBackend.unavailable_reason()
    swift_missing = shutil.which("swift") is None
    for item in items:
        if coreml_reason and "coreml" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"real CoreML: {coreml_reason}"))
        if swift_missing and "swift" in item.keywords:
            if REQUIRE_SWIFT:  # turn the skip into an error at setup
                item.add_marker(pytest.mark.usefixtures("_fail_missing_swift"))
            else:
                item.add_marker(pytest.mark.skip(reason="no swift toolchain on PATH"))


@pytest.fixture
def _fail_missing_swift():
    pytest.fail("TRENDSPLIT_REQUIRE_SWIFT=1 but no swift toolchain on PATH")


@pytest.fixture(scope="session")
def trendsplit():
    from models import get_model

    return get_model("trendsplit")


@pytest.fixture(scope="session")
def trendsplit_export(trendsplit, tmp_path_factory):
    """One real export of the default model (ONNX, CoreML fp32 and fp16) for the session."""
    from harness.export import export_model

    folder = tmp_path_factory.mktemp("export") / "trendsplit"
    manifest = export_model(trendsplit, folder)
    return manifest, folder


@pytest.fixture(scope="session")
def swift_encoder():
    """The app's Swift encoder, built in release mode and running for the whole session."""
    from harness.swift_encoder import SwiftEncoder, build

    with SwiftEncoder(build()) as encoder:
        yield encoder
