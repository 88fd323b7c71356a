"""Precision or bug: pairs set against float64 and the spread Monte Carlo arithmetic gives their precision."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from harness.backends import parse_backends
from harness.mil import Interpreter, get_profile, load_program
from harness.mil.montecarlo import RandomRounding
from harness.parity import cases as chunking
from harness.parity import expectation, steps
from harness.parity.verdict import ParityReport
from harness.report.text import format_report
from harness.results import Reading


@pytest.fixture(scope="module")
def exported(shared_export):
    from harness.models import get_model

    def export(name):
        spec = get_model(name)
        return spec, shared_export(spec)[1]

    return export


def test_stochastic_rounding_to_fp16_is_unbiased_and_lands_on_a_neighbour():
    """A quarter of the way from 1 to float16's next value 1 + 2^-10: up one time in four."""
    x = np.full(40_000, np.float32(1 + 0.25 * 2.0**-10), np.float32)
    drawn = RandomRounding(0).fp16(x)
    assert set(np.unique(drawn)) == {np.float32(1.0), np.float32(1 + 2.0**-10)}
    assert abs(np.mean(drawn == np.float32(1 + 2.0**-10)) - 0.25) < 0.01  # up with probability 1/4
    assert np.array_equal(drawn, RandomRounding(0).fp16(x))  # seeded: a classification repeats exactly
    exact = np.array([0.5, -2.0, 65504.0], np.float32)  # fp16 values: never moved
    assert np.array_equal(RandomRounding(1).fp16(exact), exact)


def test_the_default_model_is_within_precision_on_every_pair_and_its_flips_are_expected(exported, tmp_path):
    spec, folder = exported("trendsplit")
    report = steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated"), n=150, seed=0, folder=folder,
                          explain=True)
    assert report, format_report(report)
    assert {p.pair for p in report.precision} == {c.pair for c in report.comparisons}
    for p in report.precision:
        assert p.within, p.summary()
        assert p.samples == expectation.SAMPLES and p.spread > 0 and p.deviation > 0  # something was measured
        assert p.deviation <= p.factor * p.spread
        assert all(f.expected for f in p.flips), p.summary()
    fp16 = [p for p in report.precision if p.precision == "fp16"]
    assert fp16 and all(p.spread > 100 * p.reference_noise for p in fp16)  # fp16's spread, not float32's
    read = ParityReport.read(report.write(tmp_path / "r.json"))
    assert read.precision == report.precision
    assert "precision or bug" in format_report(read)


def test_fp16_overflow_is_beyond_precision_and_fp32_is_within(exported):
    spec, folder = exported("fp16-stress")
    report = steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp16[fp16-storage]"), n=200,
                          seed=0, folder=folder)
    classes = {p.pair: p for p in report.precision}
    fp16 = classes["coreml-emulated@fp16[fp16-storage] vs torch@fp32"]  # failing: classified without asking
    assert not fp16.within and fp16.overflow_cases and "overflow" in fp16.summary()
    assert all(not f.expected for f in fp16.flips if f.overflow)
    assert "onnxruntime@fp32 vs torch@fp32" not in classes  # it passed: only failing pairs without --explain


def test_a_changed_weight_is_beyond_precision_where_rounding_is_within(exported):
    """A copy of the converted fp32 program with one weight changed by 1%: the emulator runs it faithfully,
    and the classification says it is no rounding; the intact program on the same cases is within."""
    spec, folder = exported("trendsplit")
    program = load_program(next(folder.glob("*-fp32.mlpackage")))
    broken = copy.deepcopy(program)
    weight = next(op for op in broken.operations() if op.type == "const" and isinstance(op.value, np.ndarray)
                  and op.value.ndim == 3)  # the first conv's weights
    weight.value = weight.value.copy()
    weight.value.flat[np.argmax(np.abs(weight.value))] *= 1.01
    cases = list(range(64))
    feeds = chunking.take(spec, 64, 0, cases)
    r64 = expectation.float64_outputs(spec, feeds)["split_probs"]
    from harness.backends.pytorch import TorchBackend

    r32 = TorchBackend.of(spec).run(feeds)["split_probs"].astype(np.float64)
    samples = [s["split_probs"] for s in expectation.monte_carlo(program, "fp32", feeds, "fp32")]
    reading = Reading.of(spec)

    def judged(prog):
        out = Interpreter(prog, get_profile("fp32")).run(feeds).outputs["split_probs"].astype(np.float64)
        from harness.parity.compare import compare
        from harness.parity.tolerances import FP32

        c = compare(r32, out, policy=FP32, reference_name="torch@fp32", candidate_name="coreml-emulated@fp32[fp32]")
        return expectation.classify(c, reading, cases, out, r64, r32, samples, "fp32", "test")

    intact, changed = judged(program), judged(broken)
    assert intact.within, intact.summary()
    assert not changed.within and changed.worst_ratio > 10 * changed.factor, changed.summary()
