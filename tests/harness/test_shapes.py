"""Declared batch shapes: flexible (the default), fixed, enumerated and ranged exports, run in batches they accept;
a conversion that fails only because the batch is flexible says so and names the declaration that converts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from harness import api
from harness.backends import parse_backends
from harness.backends.base import in_batches
from harness.cli import build_parser, model_spec
from harness.coreml_artifact import check_coreml_artifact
from harness.errors import ExportError, UsageError
from harness.export import export_model, stale_reason
from harness.parity.compare import compare
from harness.parity.tolerances import FP32
from harness.shapes import FLEXIBLE, MAX_BATCH, Batch, parse
from harness.spec import built
from tests.user_model import tiny_vision


@pytest.mark.parametrize(("given_", "kind", "sizes", "text"), [
    (None, "range", (1, MAX_BATCH), "1..1024"), ("flexible", "range", (1, MAX_BATCH), "1..1024"),
    (4, "fixed", (4,), "4"), ("4", "fixed", (4,), "4"), ((8, 1, 8, 32), "enumerated", (1, 8, 32), "1,8,32"),
    ("1, 8,32", "enumerated", (1, 8, 32), "1,8,32"), (range(1, 65), "range", (1, 64), "1..64"),
    ("2..64", "range", (2, 64), "2..64"), ("3..3", "fixed", (3,), "3"), ([5], "fixed", (5,), "5"),
])
def test_a_declaration_is_read_in_each_form_and_written_back_as_it_reads(given_, kind, sizes, text):
    batch = parse(given_)
    assert (batch.kind, batch.sizes, str(batch)) == (kind, sizes, text)
    assert parse(str(batch)) == batch


@pytest.mark.parametrize("given_", [0, 1025, True, 2.0, "", "1..", "8..2", "a,b", (), (0, 4), ("1", 2), range(1, 9, 2),
                                    "1...8", {"batch": 1}])
def test_what_is_no_declaration_is_one_line_saying_how_to_write_one(given_):
    with pytest.raises(UsageError, match=r"^batch .*(write a size|1\.\.1024|smaller size to its larger|step 1)"):
        parse(given_)


DECLARATIONS = st.one_of(
    st.integers(1, 40).map(lambda b: Batch("fixed", (b,))),
    st.lists(st.integers(1, 40), min_size=2, max_size=5, unique=True).map(
        lambda sizes: Batch("enumerated", tuple(sorted(sizes)))),
    st.tuples(st.integers(1, 20), st.integers(21, 60)).map(lambda r: Batch("range", r)),
)


@given(DECLARATIONS, st.integers(1, 300))
def test_cases_are_cut_into_batches_the_declaration_accepts_covering_each_case_once(batch, count):
    runs = batch.slices(count)
    assert runs[0][0] == 0 and runs[-1][1] == count
    assert all(stop == start for (_, stop, _), (start, _, _) in zip(runs, runs[1:], strict=False))
    assert all(batch.accepts(size) and size >= stop - start for start, stop, size in runs)
    assert all(size == stop - start for start, stop, size in runs[:-1])  # only the last is padded
    first = batch.first(count)
    assert batch.accepts(len(first)) and first == sorted(first) and first[-1] < count


def test_in_batches_feeds_each_batch_the_declaration_takes_and_drops_the_padding():
    seen = []

    def run(feeds):
        seen.append(len(feeds["x"]))
        return {"y": feeds["x"] * 2}

    x = np.arange(11, dtype=np.float32)[:, None]
    out = in_batches(parse((2, 4)), {"x": x}, run)
    assert seen == [4, 4, 2, 2] and np.array_equal(out["y"], x * 2)
    seen.clear()
    assert np.array_equal(in_batches(parse(4), {"x": x}, run)["y"], x * 2) and seen == [4, 4, 4]


# -- real modules that coremltools converts only at a fixed batch ------------------------------------------

class Grouped(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.norm(self.conv(x)).mean(dim=(2, 3)))


class Pooled(nn.Module):
    """Adaptive average pooling from 10x10 to 3x3: windows of 3 and 4 overlap, no size divides the other."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool, self.head = nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d((3, 3)), nn.Linear(36, 4)

    def forward(self, x):
        return self.head(self.pool(self.conv(x)).flatten(1))


class Scattered(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 10)

    def forward(self, x):
        x = x.flatten(1)[:, :10]
        index = torch.tensor([[0, 2, 4, 6, 8]]).expand(x.shape[0], 5)
        return torch.zeros_like(x).scatter_add(1, index, self.linear(x)[:, :5]) + x


MODULES = {
    "group_norm": (Grouped, "torch op 'group_norm' in module 'norm' (GroupNorm)", "Cannot add const"),
    "adaptive_avg_pool2d": (Pooled, "torch op 'adaptive_avg_pool2d' in module 'pool' (AdaptiveAvgPool2d)",
                            "Adaptive pooling is only supported when input tensor size is known"),
    "scatter_add": (Scattered, "torch op 'scatter_add' in the model's own forward", "AssertionError"),
}


def _described(name: str, batch=None):
    cls = MODULES[name][0]
    return built(api.describe(name.replace("_", "-"), lambda: api.seeded(cls), inputs={"x": (None, 3, 10, 10)},
                              outputs={"y": (None, 10 if cls is Scattered else 4)}, batch=batch))


def _against_torch(spec, folder, manifest, n: int):
    reference, emulated = parse_backends("torch,coreml-emulated@fp32[fp32]")
    for backend in (reference, emulated):
        backend.load(spec, manifest, folder)
    feeds = spec.make_cases(n, 0).feeds
    expected = reference.run(feeds)["y"]
    assert np.ptp(expected) > 0.1
    return compare(expected, emulated.run(feeds)["y"], policy=FP32, decision="none")


@pytest.mark.parametrize("name", MODULES)
def test_a_flexible_batch_that_breaks_the_conversion_is_named_with_the_declaration_that_converts(name, tmp_path):
    _, op, words = MODULES[name]
    with pytest.raises(ExportError) as failed:
        export_model(_described(name), tmp_path / "flexible", targets=[("coreml", "fp32")])
    message = str(failed.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"export stage 'coreml@fp32' failed: coremltools cannot convert {op} with a flexible "
                              "batch (1..1024) (")
    assert words in message
    assert message.endswith("but converts the model with a fixed batch of 1 (tried once): declare batch=1 "
                            "(--batch 1), or export once per batch size the app uses")
    assert not (tmp_path / "flexible").exists()
    # the declaration named converts, and the interpreter runs its program as torch does: at a batch of 4 (its
    # constants hold it), 10 cases go in as 4 + 4 + 2 padded to 4
    spec = _described(name, batch=4)
    manifest = export_model(spec, tmp_path / "fixed", targets=[("coreml", "fp32")])
    assert manifest.batch == "4" and manifest.artifact("coreml", "fp32").details["batch"] == "4"
    assert check_coreml_artifact(spec, manifest.artifact("coreml", "fp32"), tmp_path / "fixed")
    judged = _against_torch(spec, tmp_path / "fixed", manifest, n=10)
    assert judged, (judged.max_abs, judged.numeric_violations)


@pytest.mark.parametrize(("declared", "target", "accepts"), [
    ((1, 4, 8), "iOS18", "shapes [(1, 3, 8, 8), (4, 3, 8, 8), (8, 3, 8, 8)]"),
    ("2..8", "iOS15", "range [(2, 8), (3, 3), (8, 8), (8, 8)]")])
def test_enumerated_and_ranged_exports_accept_what_was_declared_and_run_in_those_batches(declared, target, accepts,
                                                                                        tmp_path):
    spec = built(tiny_vision.describe_model().deployed(target, declared))
    manifest = export_model(spec, tmp_path / "e", targets=[("coreml", "fp32")])
    check = check_coreml_artifact(spec, manifest.artifact("coreml", "fp32"), tmp_path / "e")
    shape = next(f for f in check.findings if f.rule == "input_shape" and "image" in f.detail)
    assert shape.ok and shape.detail.startswith(f"input image accepts {accepts}")
    wrong = check_coreml_artifact(spec.deployed(batch="flexible"), manifest.artifact("coreml", "fp32"), tmp_path / "e")
    assert [f.rule for f in wrong.failures] == ["input_shape", "input_shape"]
    assert stale_reason(spec.deployed(batch=FLEXIBLE), tmp_path / "e").startswith(
        f"the declared batch changed ({parse(declared)} -> 1..1024)")
    reference, emulated = parse_backends("torch,coreml-emulated@fp32[fp32]")
    for backend in (reference, emulated):
        backend.load(spec, manifest, tmp_path / "e")
    feeds = spec.make_cases(13, 0).feeds
    expected, got = reference.run(feeds), emulated.run(feeds)
    assert all(compare(expected[k], got[k], policy=FP32, decision="none") for k in expected)


def test_enumerated_sizes_on_two_inputs_before_ios18_are_refused_before_any_conversion():
    with pytest.raises(UsageError, match=r"^model 'tiny-vision': coremltools enumerates the shapes of one input only "
                                         r"before iOS18, and this model has 2: declare a range or a fixed batch, or "
                                         r"target iOS18$"):
        tiny_vision.describe_model().deployed("iOS17", (1, 8))


def test_the_command_line_and_the_api_take_a_batch(tmp_path):
    model = f"{tiny_vision.__file__}:describe_model"
    args = build_parser().parse_args(["parity", "--model", model, "--batch", "1,8", "--target", "iOS18"])
    assert model_spec(args).batch == Batch("enumerated", (1, 8))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--model", model, "--batch", "0..4"])
    assert api.describe("m", nn.Linear(2, 2), inputs={"x": (None, 2)}, outputs={"y": (None, 2)},
                        batch=range(1, 9)).batch == Batch("range", (1, 8))
