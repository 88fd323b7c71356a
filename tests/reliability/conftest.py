"""The Swift encoder binary for the reliability tests, which start their own processes from it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def swift_binary(swift_encoder):
    """The binary the session's `swift_encoder` runs (built once per session)."""
    return swift_encoder.binary
