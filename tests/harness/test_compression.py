"""The compression trade-off, measured for real: coremltools.optimize.coreml compresses a converted program,
the interpreter runs every variant, each is judged against torch, and the table, JSON and figure say so."""

from __future__ import annotations

import json

import numpy as np
import pytest
from torch import nn

from harness import api
from harness.cli import main
from harness.compression import RECORD, package_bytes
from harness.errors import UsageError
from harness.mil import load_program


class Classifier(nn.Sequential):
    """Weights of 4,096 and 8,192 values: over coremltools' 2,048-value threshold, so they are compressed."""

    def __init__(self):
        super().__init__(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                         nn.Linear(128, 6))


MODEL = api.describe("compressible", lambda: api.seeded(Classifier), inputs={"x": (None, 16)},
                     outputs={"logits": (None, 6)}, decision="argmax",  # inputs that move the untrained logits:
                     make_inputs=lambda rng, n: {"x": (30 * rng.normal(size=(n, 16))).astype(np.float32)})


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compression") / "out"
    figure = folder.parent / "figure.png"
    return api.compress(MODEL, folder, n=300, figure=figure), folder, figure


def test_each_variant_is_a_program_of_its_method_and_its_size_is_what_it_holds(measured):
    report, folder, _ = measured
    assert report.target == "iOS16" and "compressed weights need iOS16" in report.note  # described for iOS15
    by = {v.name: v for v in report.variants}
    palette = next(n for n in by if n.startswith("6-bit")).removeprefix("6-bit palette ")
    palettes = [f"{bits}-bit palette {palette}" for bits in (8, 6, 4, 2)]
    in_torch = ["int8 per channel (optimize.torch)", "4-bit palette (optimize.torch, kmeans)"]
    assert list(by) == ["fp32", "fp16", "int8 per channel", *palettes, "50% sparse", "75% sparse", *in_torch]
    expected_ops = {"fp32": (), "fp16": (), "int8 per channel": ("constexpr_affine_dequantize",),
                    **{name: ("constexpr_lut_to_dense",) for name in palettes},
                    "50% sparse": ("constexpr_sparse_to_dense",), "75% sparse": ("constexpr_sparse_to_dense",),
                    in_torch[0]: ("constexpr_affine_dequantize",), in_torch[1]: ("constexpr_lut_to_dense",)}
    for v in report.variants:
        program = load_program(folder / v.package)
        assert program.opset == "CoreML6"
        assert v.weight_ops == expected_ops[v.name]
        assert tuple(sorted(o for o in program.op_types() if o.startswith("constexpr_"))) == expected_ops[v.name]
        assert v.bytes == package_bytes(folder / v.package)
    size = {name: v.bytes for name, v in by.items()}
    # fp32 weights are 4 bytes a value: fp16 2, int8 1, palettes 6 and 4 bits, 50% sparse half the values and a mask
    assert size[f"2-bit palette {palette}"] < size[f"4-bit palette {palette}"] < size[f"6-bit palette {palette}"] \
        < size["int8 per channel"] < size["fp16"] < size["fp32"]
    assert size[f"8-bit palette {palette}"] < size["fp16"]
    assert size["75% sparse"] < size["50% sparse"] < size["fp32"]
    # optimize.torch compresses in torch, then the conversion holds its metadata as the same constexpr ops
    assert size[in_torch[1]] < size[in_torch[0]] < size["fp16"]
    # coremltools leaves the first layer (1,024 values, under its 2,048 threshold) dense; optimize.torch takes it
    assert 0.8 < by["int8 per channel"].share < by[in_torch[0]].share <= 1.0
    assert by["fp32"].share == by["fp16"].share == 0.0
    assert sorted(p.name for p in folder.iterdir()) == sorted([RECORD, *(v.package for v in report.variants)])


def test_every_variant_is_judged_against_torch_and_the_smallest_agreeing_one_is_named(measured):
    report, folder, _ = measured
    by = {v.name: v for v in report.variants}
    assert report.policy.name == "fp16"
    assert by["fp32"].verdict == "pass" and by["fp32"].max_abs < 1e-4
    compressed = [v for v in report.variants if v.weight_ops]
    assert all(v.max_abs > max(1e-3, 100 * by["fp32"].max_abs) for v in compressed)  # compression moves them
    assert all(v.decision.decisions_compared > 250 for v in report.variants)  # of 300 cases: far from a tie
    best = report.smallest
    assert best is not None and best.verdict == "pass"
    assert all(v.bytes >= best.bytes for v in report.variants if v.verdict == "pass")
    assert report.conclusion.startswith(f"smallest variant whose decisions agree within the fp16 policy: {best.name}")
    text = report.text()
    assert report.table() in text and text.splitlines()[-1] == report.conclusion
    assert len(report.table().splitlines()) == 2 + len(report.variants)
    saved = json.loads((folder / RECORD).read_text())
    assert saved["smallest"] == best.name and [v["bytes"] for v in saved["variants"]] == [
        v.bytes for v in report.variants]


def test_the_figure_is_a_png_drawn_the_same_way_each_time(measured):
    report, _, figure = measured
    png = figure.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png == report.figure()
    assert not [p for p in figure.parent.iterdir() if p.name.startswith(".")]  # written atomically, nothing left


def test_a_folder_of_other_things_is_refused_before_any_work(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(UsageError, match="refusing to replace it"):
        api.compress(MODEL, tmp_path, n=10)
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_the_command_line_prints_the_table_and_writes_the_figure_json_and_markdown(tmp_path, capsys):
    model = f"{__file__}:described"
    out, figure, saved, table = tmp_path / "out", tmp_path / "f.png", tmp_path / "c.json", tmp_path / "c.md"
    assert main(["compress", "--model", model, "--n", "40", "--target", "iOS17", "--out", str(out), "--figure",
                 str(figure), "--json", str(saved), "--markdown", str(table), "-q"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("model compressible: 40 cases (seed 0), CoreML target iOS17\n")
    assert table.read_text() == printed
    assert json.loads(saved.read_text())["target"] == "iOS17" and figure.read_bytes().startswith(b"\x89PNG")
    assert main(["compress", "--model", model, "--out", str(out), "--figure", str(out / "f.png")]) == 2
    assert "is in the export folder" in capsys.readouterr().err
    assert np.all([load_program(p).opset == "CoreML7" for p in out.glob("*.mlpackage")])


def described():
    return MODEL


def test_at_ios18_the_block_grouped_and_joint_variants_are_measured_too(tmp_path):
    """iOS18's ops hold per-block int8/int4, palettes per grouped channel and sparsity with a palette of the
    kept values: each variant is the program its method makes, and is judged like the others."""
    report = api.compress(MODEL, tmp_path / "out", n=60, target="iOS18")
    assert report.target == "iOS18" and not report.note
    by = {v.name: v for v in report.variants}
    palette = next(n for n in by if n.startswith("6-bit")).removeprefix("6-bit palette ")
    joint = f"50% sparse + 4-bit palette {palette}"
    ios18 = {"int8 per block of 32": ("constexpr_blockwise_shift_scale",),
             "int4 per block of 32": ("constexpr_blockwise_shift_scale",),
             f"4-bit palette per 16 channels {palette}": ("constexpr_lut_to_dense",),
             joint: ("constexpr_lut_to_sparse", "constexpr_sparse_to_dense")}
    ios18["int4 per block of 32 (optimize.torch)"] = ("constexpr_blockwise_shift_scale",)
    assert list(by)[-5:] == list(ios18) and len(by) == 16
    for name, ops in ios18.items():
        assert by[name].weight_ops == ops, name
        assert load_program(tmp_path / "out" / by[name].package).opset == "CoreML8"
        assert by[name].decision.decisions_compared > 0 and by[name].verdict in ("pass", "fail")
    assert by["int4 per block of 32"].bytes < by["int8 per block of 32"].bytes < by["fp16"].bytes
    assert by[joint].bytes < by["50% sparse"].bytes  # the kept values in 4 bits, not 32
    assert by["int8 per block of 32"].max_abs < by["int4 per block of 32"].max_abs  # fewer bits, further off


class Small(nn.Sequential):
    """Conv1d layers only, of 48 and 16 weight values: under coremltools' threshold, and a layer type
    optimize.torch's palettizer does not take."""

    def __init__(self):
        super().__init__(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 2, 1), nn.Flatten(1))


SMALL = api.describe("small", lambda: api.seeded(Small), inputs={"x": (None, 2, 8)}, outputs={"y": (None, 16)},
                     decision="argmax", make_inputs=lambda rng, n: {"x": rng.normal(size=(n, 2, 8)).astype(np.float32)})


def test_a_method_that_compressed_nothing_says_so_and_is_never_the_answer(tmp_path):
    report = api.compress(SMALL, tmp_path / "out", n=40)
    dense = [v for v in report.variants if v.left_dense]
    assert {v.name for v in dense} == {v.name for v in report.variants} - {"fp32", "fp16", "int8 per channel "
                                                                           "(optimize.torch)"}
    assert all(not v.weight_ops and v.share == 0.0 for v in dense)
    assert report.smallest is not None and not report.smallest.left_dense
    row = next(line for line in report.table().splitlines() if line.startswith("| 50% sparse |"))
    assert "nothing compressed" in row


class Wide(nn.Sequential):
    """A weight of 40 x 56 = 2,240 values: over coremltools' threshold, with input channels no multiple of 32 and
    output channels no multiple of 16."""

    def __init__(self):
        super().__init__(nn.Linear(56, 40), nn.ReLU(), nn.Linear(40, 4))


def test_a_per_block_method_that_compressed_nothing_says_the_block_must_divide_the_input_channels(tmp_path):
    """int8 per channel compresses the 2,240-value weight; per block of 32 leaves it dense because 56 input channels
    are no multiple of 32, a palette per 16 channels because 40 output channels are no multiple of 16 (coremltools
    skips the op, in its log only). The rows said the weights were under 2,048 values."""
    wide = api.describe("wide", lambda: api.seeded(Wide), inputs={"x": (None, 56)}, outputs={"y": (None, 4)},
                        decision="argmax")
    report = api.compress(wide, tmp_path / "out", n=20, target="iOS18")
    by = {v.name: v for v in report.variants}
    assert not by["int8 per channel"].left_dense
    for name in ("int8 per block of 32", "int4 per block of 32"):
        assert by[name].left_dense, name
        row = next(line for line in report.table().splitlines() if line.startswith(f"| {name} |"))
        assert "input channels are a multiple of the block (32)" in row, row
    name = next(n for n in by if n.startswith("4-bit palette per 16 channels"))
    assert by[name].left_dense
    row = next(line for line in report.table().splitlines() if line.startswith(f"| {name} |"))
    assert "output channels are a multiple of the group (16)" in row, row


def test_a_model_whose_fp32_program_proves_nothing_says_why_not_that_no_decision_agrees(tmp_path):
    """Inputs of 1e-6 leave the logits at the biases: every row agrees on every decision and is INCONCLUSIVE (one
    output for every case would agree). The conclusion said "no variant's decisions agree with torch"."""
    still = api.describe("still", lambda: api.seeded(Classifier), inputs={"x": (None, 16)},
                         outputs={"logits": (None, 6)}, decision="argmax",
                         make_inputs=lambda rng, n: {"x": (1e-6 * rng.normal(size=(n, 16))).astype(np.float32)})
    report = api.compress(still, tmp_path / "out", n=20)
    assert report.baseline.verdict == "inconclusive"
    assert report.conclusion.startswith("nothing judged: the fp32 program's comparison with torch proves nothing "
                                        "(the outputs do not vary with the inputs"), report.conclusion


def test_a_model_without_a_decision_rule_gets_its_figure_of_errors_and_a_conclusion_on_numbers(tmp_path):
    """No decision rule (a regression): no variant has decisions to agree on. Drawing the agreement on a log scale
    was an internal error (every point NaN); the figure plots the largest error against the size instead."""
    numbers = api.describe("numbers", lambda: api.seeded(Classifier), inputs={"x": (None, 16)},
                           outputs={"y": (None, 6)},
                           make_inputs=lambda rng, n: {"x": (30 * rng.normal(size=(n, 16))).astype(np.float32)})
    figure = tmp_path / "numbers.png"
    report = api.compress(numbers, tmp_path / "out", n=20, figure=figure)
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert report.conclusion.startswith("smallest variant within the fp16 policy (numbers: no decision rule): ") \
        or report.conclusion == "no variant within the fp16 policy (numbers: no decision rule)", report.conclusion
