"""The error codes are one list in three languages: the kit's Python classes, the Swift enum an app
links, and the React Native TypeScript an app's JavaScript reads; and the TypeScript type-checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trendsplit import errors

ROOT = Path(__file__).resolve().parents[2]
SWIFT = ROOT / "ios_bridge" / "Sources" / "TrendSplitCore" / "TrendSplitError.swift"
NATIVE = ROOT / "ios_bridge" / "ReactNative"
TYPESCRIPT = NATIVE / "src" / "index.ts"


def swift_codes() -> list[str]:
    """`TrendSplitError.code`'s strings, in the enum's order."""
    body = SWIFT.read_text().split("public var code: String {", 1)[1].split("\n    }", 1)[0]
    return re.findall(r'case \.\w+: return "(\w+)"', body)


def swift_encoding_codes() -> list[str]:
    block = SWIFT.read_text().split("public static let encodingCodes = [", 1)[1].split("]", 1)[0]
    return re.findall(r'"(\w+)"', block)


def typescript_codes() -> tuple[list[str], list[str]]:
    """(the `TrendSplitErrorCode` union's members, `TREND_SPLIT_ERROR_CODES`), each in order."""
    text = TYPESCRIPT.read_text()
    union = text.split("export type TrendSplitErrorCode =", 1)[1].split(";", 1)[0]
    array = text.split("export const TREND_SPLIT_ERROR_CODES", 1)[1].split("];", 1)[0]
    return re.findall(r"'(\w+)'", union), re.findall(r"'(\w+)'", array)


def python_codes() -> list[str]:
    """Every code the kit raises: the encoding's rules, then the callers' mistakes."""
    return [*errors.ERROR_CODES, errors.UnsupportedEncodingVersion.code, errors.EncodingVersionMismatch.code]


def test_swift_typescript_and_python_name_the_same_codes_in_the_same_order():
    swift = swift_codes()
    union, array = typescript_codes()
    assert len(swift) == len(set(swift)) >= 9, swift
    assert union == array == swift  # an app's JavaScript knows every code its native side rejects with
    assert swift[: len(python_codes())] == python_codes()  # then the app's own: model_unavailable, ...
    assert swift_encoding_codes() == list(errors.ERROR_CODES)  # a code's position is its byte on the wire


def test_every_encoding_error_class_has_a_code_of_the_list():
    classes = {c.code for c in errors.EncodingError.__subclasses__()}
    assert classes == set(errors.ERROR_CODES)


def _tsc() -> str | None:
    found = shutil.which("tsc")
    if found is None and os.environ.get("TRENDSPLIT_REQUIRE_TSC") == "1":
        pytest.fail("TRENDSPLIT_REQUIRE_TSC=1 but no tsc on PATH (Debian: apt-get install node-typescript)")
    return found


def test_the_react_native_typescript_type_checks(tmp_path):
    tsc = _tsc()
    if tsc is None:
        pytest.skip("no TypeScript compiler on PATH (Debian: apt-get install node-typescript)")
    done = subprocess.run([tsc, "-p", str(NATIVE)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_type_check_fails_on_a_type_error(tmp_path):
    """The check can fail: the same sources with one wrong type are refused."""
    tsc = _tsc()
    if tsc is None:
        pytest.skip("no TypeScript compiler on PATH (Debian: apt-get install node-typescript)")
    copy = tmp_path / "ReactNative"
    shutil.copytree(NATIVE, copy, ignore=shutil.ignore_patterns("ios"))
    index = copy / "src" / "index.ts"
    wrong = index.read_text().replace("export const MAX_POINTS = 100;", "export const MAX_POINTS: string = 100;")
    index.write_text(wrong)
    done = subprocess.run([tsc, "-p", str(copy)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "error TS2322" in done.stdout  # a number is not assignable to string
