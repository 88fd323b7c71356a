"""The HTML report as a browser shows it: headless Chromium's DOM and screenshot, for a user's argmax model and a
user's threshold model (tests/user_model/), passed and failed. Skipped (with the reason) without Chromium, unless
HARNESS_REQUIRE_CHROMIUM=1 (CI installs it: .ci/run)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness import api
from tests.user_model import tiny_vision

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
#: The banner's background per verdict, as the page's CSS sets it.
BANNER = {"PASSED": (0xE8, 0xF5, 0xE9), "FAILED": (0xFF, 0xEB, 0xEE), "INCONCLUSIVE": (0xFF, 0xF8, 0xE1)}
#: What belongs to the trendsplit reference net and its policies' old wording, not to a user's model.
TRENDSPLIT_WORDS = ("trendsplit", "sigmoid", "5 layers", "five layers", "watch", "probabilit", "0.5 threshold",
                    "near threshold", "of the threshold")


@pytest.fixture(scope="module")
def browser():
    if BROWSER is None:
        if os.environ.get("HARNESS_REQUIRE_CHROMIUM") == "1":
            pytest.fail("HARNESS_REQUIRE_CHROMIUM=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    return BROWSER


def shown(browser: str, page: Path, tmp_path: Path) -> tuple[str, np.ndarray]:
    """(the DOM Chromium built from `page`, its screenshot as RGB pixels)."""
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    from PIL import Image

    return dom, np.asarray(Image.open(shot).convert("RGB"))


def text_of(dom: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)[^>]*>.*?</\1>", "", dom, flags=re.S)))


def banner(dom: str) -> tuple[str, str]:
    """(the verdict banner's classes, its text) as the browser's DOM holds them."""
    (found,) = re.findall(r'<div class="(banner [^"]*)">(.*?)</div>', dom, flags=re.S)
    return found[0], html.unescape(found[1])


def banner_pixels(pixels: np.ndarray, status: str) -> int:
    return int((pixels == np.array(BANNER[status], np.uint8)).all(axis=-1).sum())


@pytest.fixture(scope="module")
def user_model():
    return tiny_vision.describe_model()


def page(report, tmp_path: Path) -> Path:
    return api.report(report, tmp_path / "report.html")


def test_a_users_argmax_model_reads_as_its_own(browser, user_model, shared_export, tmp_path):
    _, folder = shared_export(user_model)
    report = api.parity(user_model, "torch,onnxruntime,coreml-emulated", n=80, folder=folder)
    assert report.status == "PASSED", report.headline
    dom, pixels = shown(browser, page(report, tmp_path), tmp_path)
    words = text_of(dom)
    assert banner(dom) == ("banner passed", report.headline)
    assert banner_pixels(pixels, "PASSED") > 20_000  # the banner is drawn in its colour
    assert "A decision is the class with the largest output" in words
    assert [w for w in TRENDSPLIT_WORDS if w in words.lower()] == []
    assert "Policies" in words and "fp32" in words and "fp16" in words
    assert dom.count('<img alt="figure"') >= 2


def test_a_users_threshold_model_reads_in_threshold_words(browser, series_model, series_export, tmp_path):
    _, folder = series_export
    report = api.parity(series_model, "torch,onnxruntime,coreml-emulated@fp16[fp16-storage]", n=40, folder=folder)
    dom, pixels = shown(browser, page(report, tmp_path), tmp_path)
    words = text_of(dom)
    assert banner(dom) == (f"banner {report.status.lower()}", report.headline)
    assert banner_pixels(pixels, report.status) > 20_000
    assert "from the 0.5 threshold" in words and "class with the largest output" not in words
    assert "near threshold" in words
    assert [w for w in ("trendsplit", "watch") if w in words.lower()] == []  # the kit's words stay the kit's


def test_a_failed_report_is_red_in_the_browser(browser, user_model, shared_export, tmp_path):
    _, folder = shared_export(user_model)
    report = api.parity(user_model, "torch,onnxruntime", n=40, folder=folder, atol="fp32=1e-12", rtol="fp32=0")
    assert report.status == "FAILED"
    dom, pixels = shown(browser, page(report, tmp_path), tmp_path)
    assert banner(dom) == ("banner failed", report.headline)
    assert banner_pixels(pixels, "FAILED") > 20_000 and banner_pixels(pixels, "PASSED") == 0
    assert "fp32(atol=1e-12,rtol=0)" in text_of(dom)
