"""Localised in the user's terms: each backend's intermediate values, mapped to torch modules, against float64."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from harness.errors import UsageError
from harness.mil import load_program
from harness.parity import cases as chunking
from harness.parity.modules import localize_pair, onnx_values, torch_outputs
from harness.spec import built
from tests.user_model import series


@pytest.fixture(scope="module")
def series_folder(series_model, series_export):
    return built(series_model), series_export[1]


def _feeds(spec, n=16):
    cases = list(range(n))
    return cases, chunking.take(spec, n, 0, cases)


def _break_first_conv(folder):
    """The fp32 package's first conv weight changed by 1% in its weight file: a converted program gone wrong."""
    package = next(folder.glob("*-fp32.mlpackage"))
    weight = next(op.value for op in load_program(package).operations()
                  if op.type == "const" and isinstance(op.value, np.ndarray) and op.value.ndim == 3)
    blob = next(package.rglob("weight.bin"))
    data = bytearray(blob.read_bytes())
    at = bytes(data).find(np.asarray(weight, np.float32).tobytes())
    assert at >= 0, "the conv's weights were not found in the weight file"
    k = int(np.argmax(np.abs(weight)))
    changed = np.float32(weight.flat[k] * 1.01)
    data[at + 4 * k: at + 4 * k + 4] = changed.tobytes()
    blob.write_bytes(bytes(data))


def test_every_pair_of_the_default_model_stays_within_its_spread_module_by_module(series_folder):
    spec, folder = series_folder
    cases, feeds = _feeds(spec)
    for pair in ("onnxruntime", "coreml-emulated@fp32", "coreml-emulated@fp16[fp16]"):
        found = localize_pair(spec, folder, pair, cases, feeds)
        assert len(found.modules) == 5, found.render()  # 3 convs and 2 ReLUs, each mapped
        assert found.first is None, found.render()
        assert all(m.deviation > 0 for m in found.modules if m.kind == "Conv1d")  # something was measured


def test_a_changed_weight_is_found_at_its_torch_module(series_folder, tmp_path):
    spec, folder = series_folder
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    _break_first_conv(broken)
    cases, feeds = _feeds(spec)
    found = localize_pair(spec, broken, "coreml-emulated@fp32", cases, feeds)
    assert found.first is not None and found.first.title == "body.0 (Conv1d)", found.render()
    assert found.first.ratio > 100 * found.factor
    assert "starts to part from float64 at body.0 (Conv1d)" in found.summary()


def test_onnx_intermediates_are_named_by_their_modules(series_folder):
    spec, folder = series_folder
    _, feeds = _feeds(spec, 2)
    values, order, paths = onnx_values(next(folder.glob("*.onnx")), feeds)
    mapped = {paths[name] for name in order if name in paths}
    assert set(torch_outputs(spec.build(), spec, feeds, float64=True)) == mapped | {"body"}  # body: the container
    assert values["probs"].shape == (2, series.LENGTH)


def test_a_backend_without_intermediates_is_refused_in_one_line(series_folder):
    spec, folder = series_folder
    cases, feeds = _feeds(spec, 2)
    with pytest.raises(UsageError, match="coreml-emulated and onnxruntime"):
        localize_pair(spec, folder, "torch", cases, feeds)


def test_a_localisation_that_mapped_no_module_says_so_instead_of_every_module_within():
    """A program whose values match none of the model's modules (a Linear fused and renamed by coremltools' passes)
    said "every module's output within 6x the spread (0 modules mapped)": a claim about nothing."""
    from harness.parity.modules import compare_modules

    r64 = np.linspace(-2, 2, 12).reshape(4, 3)
    t64 = {"a": ("Linear", r64), "b": ("ReLU", np.maximum(r64, 0))}
    nothing = compare_modules("x vs float64", "fp16", [0, 1, 2, 3], t64, t64, {}, [])
    assert "every module" not in nothing.summary() and "nothing localised" in nothing.summary()
    assert not nothing.localised
    one = compare_modules("x vs float64", "fp16", [0, 1, 2, 3], t64, t64, {"a": r64}, [])
    assert one.localised and "(1 of 2 modules mapped" in one.summary()


class _Mix(torch.nn.Module):
    """Right in torch, wrong in the ONNX export (a softmax over channels, not time): a converter's defect."""

    def forward(self, x):
        return x * torch.softmax(x, dim=1 if torch.onnx.is_in_onnx_export() else 2) * 16


class _SharedTwice(torch.nn.Module):
    """`mix` runs twice, `mid` between its two calls: the export goes wrong at `mix`'s first call."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Conv1d(4, 8, 3, padding=1)
        self.mix = _Mix()
        self.mid = torch.nn.Conv1d(8, 8, 3, padding=1)
        self.head = torch.nn.Linear(8 * 16, 3)

    def forward(self, x):
        return self.head(self.mix(self.mid(self.mix(self.inp(x)))).flatten(1))


def test_a_defect_in_a_module_called_twice_is_found_at_that_module_not_at_the_one_between_its_calls(shared_export):
    """A module run twice was captured at its last run: it sat after `mid` in execution order, so a pair going wrong
    at its first run was said to start at `mid (Conv1d)`, a module the export got right."""
    from harness import api

    spec = built(api.describe("shared-twice", lambda: api.seeded(_SharedTwice), inputs={"x": (None, 4, 16)},
                              outputs={"logits": (None, 3)}, decision="argmax", decision_output="logits"))
    _, folder = shared_export(spec)
    cases, feeds = _feeds(spec, 8)
    found = localize_pair(spec, folder, "onnxruntime", cases, feeds)
    assert [m.title for m in found.modules][:3] == ["inp (Conv1d)", "mix (_Mix)", "mid (Conv1d)"], found.render()
    assert found.first is not None and found.first.title == "mix (_Mix)", found.render()
    right = localize_pair(spec, folder, "coreml-emulated@fp32", cases, feeds)  # the same modules, converted right
    assert right.localised and right.first is None, right.render()


class _Norm(torch.nn.Module):
    """A LayerNorm whose single-case path has another eps (1e-1): the CoreML export, traced at batch 1, takes it."""

    def __init__(self, wrong_alone: bool):
        super().__init__()
        self.wrong_alone = wrong_alone

    def forward(self, x):
        eps = 1e-1 if self.wrong_alone and x.shape[0] == 1 else 1e-5
        return torch.nn.functional.layer_norm(x, x.shape[-1:], None, None, eps)


class _Blocks(torch.nn.Module):
    """Blocks in a ModuleList of ModuleDicts, iterated (never called): the tracer's hierarchy names `ff.0`, not
    `blocks.1.ff.0`. Only the second block's norm goes wrong when converted."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Linear(6, 16)
        self.blocks = torch.nn.ModuleList(
            torch.nn.ModuleDict({"ff": torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Tanh()),
                                 "norm": _Norm(wrong_alone=k == 1)}) for k in range(2))
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        x = torch.tanh(self.stem(x)) * 0.3
        for block in self.blocks:
            x = block["norm"](x + block["ff"](x))
        return self.head(x)


def test_modules_in_containers_that_are_iterated_map_by_their_full_path(shared_export):
    """coremltools' torch hierarchy holds only the modules called (`ff(Sequential).0(Linear)`): the values of both
    blocks were given to a path no module has, 1 of 10 modules mapped, and the pair said "every mapped module's
    output within 8x" of a program wrong at blocks.1.norm. The traced scope names hold the full path."""
    from harness import api

    spec = built(api.describe("blocks", lambda: api.seeded(_Blocks), inputs={"x": (None, 6)},
                              outputs={"logits": (None, 4)}, decision="argmax", decision_output="logits"))
    _, folder = shared_export(spec)
    cases, feeds = _feeds(spec, 8)
    found = localize_pair(spec, folder, "coreml-emulated@fp32", cases, feeds)
    titles = [m.title for m in found.modules]
    assert {"blocks.0.ff.0 (Linear)", "blocks.1.ff.0 (Linear)", "blocks.0.norm (_Norm)"} <= set(titles), titles
    assert found.first is not None and found.first.title == "blocks.1.norm (_Norm)", found.render()


class _Guard(torch.nn.Module):
    """Rescales, but not while it is exported: the export keeps the other branch, no op at all. (A branch on the
    values, `x / 4 if x.abs().max() > 4 else x`, did the same until traced exports refused such branches.)"""

    def forward(self, x):
        exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()
        return x if exporting else x / 4


class _Guarded(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.guard = _Guard()
        self.body = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))

    def forward(self, x):
        return self.body(self.guard(x))


def test_a_pair_that_starts_to_part_in_a_module_no_value_maps_to_names_it_beside_the_first_mapped_one(shared_export):
    """The guard's op was exported away: no value of the program is the guard's, so the first module past its spread
    was `body.0 (Linear)`, named alone as where the pair starts, and the user sent to a Linear converted right."""
    from harness import api

    def inputs(rng, n):
        x = rng.normal(size=(n, 6)).astype(np.float32)
        x[::4] *= 10  # a large case in every batch: the guard rescales every batch in torch
        return {"x": x}

    spec = built(api.describe("guarded", lambda: api.seeded(_Guarded), inputs={"x": (None, 6)},
                              outputs={"logits": (None, 4)}, make_inputs=inputs, decision="argmax",
                              decision_output="logits"))
    _, folder = shared_export(spec)
    cases, feeds = _feeds(spec, 8)
    for pair in ("onnxruntime", "coreml-emulated@fp32"):
        found = localize_pair(spec, folder, pair, cases, feeds)
        assert "guard (_Guard)" not in [m.title for m in found.modules]  # nothing of the program is the guard's
        assert found.first is not None and found.first.title == "body.0 (Linear)", found.render()
        assert found.where == "body.0 (Linear), or before it in guard (_Guard), which no value of the program maps to"
        assert "(or before it in guard (_Guard), which no value of the program maps to)" in found.summary()


class _Mixer(torch.nn.Module):
    def __init__(self, wrong: bool):
        super().__init__()
        self.wrong = wrong

    def forward(self, x):
        return x * torch.softmax(x, dim=1 if (self.wrong and torch.onnx.is_in_onnx_export()) else 2)


class _AttentionBlock(torch.nn.Module):
    def __init__(self, wrong: bool):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
        self.mix = _Mixer(wrong)

    def forward(self, x):
        h = self.proj(x)
        return x + self.mix(torch.nn.functional.scaled_dot_product_attention(h, h, h))


class _AttentionBlocks(torch.nn.Module):
    """3-D attention (torch 2.13's dynamo exporter refuses it: the TorchScript one writes the ONNX file) in a
    ModuleList; the second block's mixer takes its softmax over another axis when exported."""

    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([_AttentionBlock(False), _AttentionBlock(True)])
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(1))


def test_a_torchscript_export_maps_nested_modules_by_their_full_path(shared_export):
    """The TorchScript exporter names a node by the modules it ran in, each by its name under the one before
    (`/blocks.1/mix/Softmax`): the last part alone (`mix`) is no module's path, so only the blocks mapped and the
    pair was said to start at `blocks.1 (Block)`, not at the mixer inside it."""
    from harness import api
    from harness.export.manifest import Manifest

    spec = built(api.describe("attention-blocks", lambda: api.seeded(_AttentionBlocks), inputs={"x": (None, 5, 8)},
                              outputs={"logits": (None, 3)}, decision="argmax", decision_output="logits"))
    manifest, folder = shared_export(spec)
    assert Manifest.read(folder).artifact("onnx", "fp32").details["exporter"] == "torchscript"
    cases, feeds = _feeds(spec, 8)
    found = localize_pair(spec, folder, "onnxruntime", cases, feeds)
    titles = [m.title for m in found.modules]
    assert {"blocks.0.proj (Linear)", "blocks.0.mix (_Mixer)", "blocks.1.proj (Linear)"} <= set(titles), titles
    assert found.first is not None and found.first.title == "blocks.1.mix (_Mixer)", found.render()


def test_a_failing_fp32_emulated_pair_is_not_said_to_accumulate_its_error(shared_export):
    """The op-level localisation runs the program under the fp32 profile against the pair's own: for an fp32 pair,
    the same profile, so no op can diverge, and a program wrong at blocks.1.norm was said to fail because "no single
    op diverges ...: the error accumulates", beside its class, which names the module."""
    from harness import api
    from harness.backends import parse_backends
    from harness.parity import steps
    from harness.report.text import format_report

    spec = built(api.describe("blocks", lambda: api.seeded(_Blocks), inputs={"x": (None, 6)},
                              outputs={"logits": (None, 4)}, decision="argmax", decision_output="logits"))
    _, folder = shared_export(spec)
    report = steps.parity(spec, parse_backends("torch,coreml-emulated@fp32"), n=32, seed=0, folder=folder)
    assert report.status == "FAILED"
    (cls,) = report.precision
    assert not cls.within and cls.starts_at.startswith("blocks.1.norm"), cls.summary()
    assert not report.diagnoses and "the error accumulates" not in format_report(report)
