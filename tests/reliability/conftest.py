"""The Swift encoder binary, built once for the reliability tests (each test starts its own processes)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def swift_binary():
    from harness.swift_encoder import build

    return build()
