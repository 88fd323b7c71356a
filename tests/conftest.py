"""Shared fixtures and Hypothesis profiles (marker handling comes from the harness's pytest plugin)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, deadline=None)
# CI explores the same examples every run (a red CI is a real regression, not a new draw);
# `thorough` explores widely and is where new counterexamples are hunted.
settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Marker handling (coreml skips off macOS, swift skips or errors) comes from the harness's own
# pytest plugin (harness/pytest_plugin.py, entry point pytest11), as in users' suites.
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def trendsplit():
    from harness.models import get_model

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
    from trendsplit.swift_encoder import SwiftEncoder, build

    with SwiftEncoder(build()) as encoder:
        yield encoder
