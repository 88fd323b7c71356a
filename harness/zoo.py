"""A zoo of the architectures people ship, to hold the harness to models it did not write.

torchvision's mobile and classic classifiers, recurrent nets, a transformer encoder,
attention, a U-Net, an embedding model and small 1-D/2-D conv nets, all built from common
torch layers at small input sizes. Weights are seeded random inits; where a net has
BatchNorm its statistics are re-estimated on the zoo's own inputs (`harness.calibrate`),
so outputs are of order 1 and decisions are judged, not vacuous.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.calibrate import recalibrate_batchnorm
from harness.errors import UsageError
from harness.exact_random import ExactGenerator
from harness.spec import ModelSpec, seeded_init

CALIBRATION_SEED = 12_345


@dataclass(frozen=True)
class Entry:
    """One zoo model: how to build it, its input, and how an app reads its output."""

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    decision: str = "argmax"
    inputs: str = "normal"  # "normal", or "tokens" (whole numbers in [0, VOCAB))
    family: str = ""
    states: tuple[str, ...] = ()  # buffers kept across calls (`ModelSpec.states`): exported at iOS18 with states
    steps: int = 1  # calls per case of a stateful model
    batch: int | None = None  # a fixed batch (a stateful model's states are sized by it)


_TORCHVISION_SHIM: list = []


def torchvision():
    """torchvision, importable without its C++ ops.

    PyPI's torchvision wheel is built against CUDA torch; with the CPU torch its C++ ops do
    not load, and torchvision 0.28 then fails its own import registering fake kernels for
    `torchvision::nms` and `qnms`. The models need none of those ops: define their schemas
    (never run) and import again.
    """
    import sys

    try:
        import torchvision as tv
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_SHIM.append(lib)  # the definition lives as long as the library object
        import torchvision as tv
    return tv


def _tv(name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        return getattr(torchvision().models, name)(weights=None, **kwargs)

    return build


class Conv1dClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(3, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2))
        self.head = nn.Linear(32 * 16, 6)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


class TCN(nn.Module):
    """Causal dilated 1-D convolutions (left padding with F.pad), residual, per-step sigmoid."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(8, 8, 3, dilation=d) for d in (1, 2, 4))
        self.inp = nn.Conv1d(2, 8, 1)
        self.out = nn.Conv1d(8, 1, 1)

    def forward(self, x):
        h = self.inp(x)
        for conv in self.convs:
            h = h + F.leaky_relu(conv(F.pad(h, (2 * conv.dilation[0], 0))), 0.1)
        return torch.sigmoid(self.out(h)).squeeze(1)


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.down2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.fuse = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.ELU(), nn.Conv2d(8, 1, 1))

    def forward(self, x):
        a = self.down1(x)
        b = self.up(self.down2(a))
        return torch.sigmoid(self.fuse(torch.cat([a, b], dim=1)))


class Resizer(nn.Module):
    """Nearest and bilinear resizing to sizes that are not integer multiples."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4 * 6 * 6 + 4 * 4 * 4, 5)

    def forward(self, x):
        h = torch.tanh(self.conv(x))
        up = F.interpolate(h, size=(6, 6), mode="nearest")
        down = F.interpolate(h, size=(4, 4), mode="bilinear", align_corners=False)
        return self.head(torch.cat([up.flatten(1), down.flatten(1)], 1))


class TransformerTagger(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.inp = nn.Linear(8, 32)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.encoder(self.inp(x)))


class AttentionPool(nn.Module):
    """F.scaled_dot_product_attention and nn.MultiheadAttention, pooled to classes."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 48)
        self.mha = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        h = F.scaled_dot_product_attention(q, k, v)
        h, _ = self.mha(h, h, h, need_weights=False)
        return self.head(h.mean(dim=1))


class Recurrent(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.rnn = cls(8, 16, num_layers=2, bidirectional=kind == "lstm", batch_first=True)
        self.head = nn.Linear(32 if kind == "lstm" else 16, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


VOCAB = 50


class Embedder(nn.Module):
    """Token ids arrive as float32 (CoreML's app-facing type); the model casts them."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, 4))

    def forward(self, tokens):
        return self.mlp(self.embed(tokens.long()).mean(dim=1))


class NormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(24), nn.Linear(24, 48), nn.GELU(), nn.Dropout(0.1),
                                 nn.LayerNorm(48), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 7))

    def forward(self, x):
        return self.net(x)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        # Not AdaptiveAvgPool2d(2): coremltools 9 converts adaptive pooling only to (1, 1) when the
        # batch dimension is flexible ("Adaptive pooling is only supported when input tensor size is known").
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.Hardswish(), nn.AvgPool2d(5))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU6(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x))


class DepthwiseNet(nn.Module):
    """Depthwise-separable blocks with grouped convolutions, PReLU, Hardsigmoid gating, global max pool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.PReLU(16))
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 24, 1)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(24, 24, 1), nn.Hardsigmoid())
        self.head = nn.Linear(24, 8)

    def forward(self, x):
        h = self.pw(F.relu(self.dw(self.stem(x))))
        h = h * self.gate(h)
        return self.head(F.adaptive_max_pool2d(h, 1).flatten(1))


class RunningStats(nn.Module):
    """Standardises each batch by exponential moving statistics of the batches seen so far (a streaming sensor
    normaliser), then classifies: the statistics are its state, updated on every call."""

    def __init__(self, features: int = 6, momentum: float = 0.25):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(1, features))
        self.register_buffer("square", torch.ones(1, features))  # not Core ML's zeros: the app writes it
        self.head = nn.Linear(features, 3)

    def forward(self, x):
        m = self.momentum
        self.mean[:, :] = self.mean * (1 - m) + m * x.mean(0, keepdim=True)
        self.square[:, :] = self.square * (1 - m) + m * (x * x).mean(0, keepdim=True)
        return self.head((x - self.mean) / torch.sqrt(self.square - self.mean * self.mean + 1e-2))


class KVCacheAttention(nn.Module):
    """One attention head decoding a token per call over a key/value cache of the last `window` tokens: each
    call shifts the cache by one, appends the token's key and value, and masks the slots not yet filled."""

    def __init__(self, dim: int = 8, window: int = 6, classes: int = 5):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        self.head = nn.Linear(dim, classes)
        self.register_buffer("k_cache", torch.zeros(1, window, dim))
        self.register_buffer("v_cache", torch.zeros(1, window, dim))
        self.register_buffer("filled", torch.zeros(1, window))  # 1 where a slot holds a token

    def forward(self, x):  # x: (1, 1, dim), one token
        self.k_cache[:, :, :] = torch.cat([self.k_cache[:, 1:], self.k(x)], dim=1)
        self.v_cache[:, :, :] = torch.cat([self.v_cache[:, 1:], self.v(x)], dim=1)
        self.filled[:, :] = torch.cat([self.filled[:, 1:], torch.ones(1, 1)], dim=1)
        mask = (self.filled[:, None, :] - 1) * 1e4  # 0 where filled, -1e4 where empty
        h = F.scaled_dot_product_attention(self.q(x), self.k_cache, self.v_cache, attn_mask=mask)
        return self.head(h[:, 0])


ENTRIES: tuple[Entry, ...] = (
    Entry("zoo-mobilenet-v2", _tv("mobilenet_v2", width_mult=0.25, num_classes=10), (3, 32, 32), (10,),
          family="torchvision"),
    Entry("zoo-mobilenet-v3-small", _tv("mobilenet_v3_small", num_classes=10), (3, 32, 32), (10,),
          family="torchvision"),
    Entry("zoo-resnet18", _tv("resnet18", num_classes=10), (3, 32, 32), (10,), family="torchvision"),
    Entry("zoo-squeezenet1-1", _tv("squeezenet1_1", num_classes=10), (3, 64, 64), (10,), family="torchvision"),
    Entry("zoo-shufflenet-v2", _tv("shufflenet_v2_x0_5", num_classes=10), (3, 32, 32), (10,), family="torchvision"),
    Entry("zoo-efficientnet-b0", _tv("efficientnet_b0", num_classes=10), (3, 32, 32), (10,), family="torchvision"),
    Entry("zoo-regnet-y-400mf", _tv("regnet_y_400mf", num_classes=10), (3, 32, 32), (10,), family="torchvision"),
    Entry("zoo-transformer", TransformerTagger, (12, 8), (12, 4), family="attention"),
    Entry("zoo-attention", AttentionPool, (10, 8), (5,), family="attention"),
    Entry("zoo-bilstm", lambda: Recurrent("lstm"), (12, 8), (12, 3), family="recurrent"),
    Entry("zoo-gru", lambda: Recurrent("gru"), (12, 8), (12, 3), family="recurrent"),
    Entry("zoo-rnn", lambda: Recurrent("rnn"), (12, 8), (12, 3), family="recurrent"),
    Entry("zoo-conv1d-bn", Conv1dClassifier, (3, 64), (6,), family="conv"),
    Entry("zoo-tcn", TCN, (2, 40), (40,), decision="threshold", family="conv"),
    Entry("zoo-unet", TinyUNet, (1, 16, 16), (1, 16, 16), decision="threshold", family="conv"),
    Entry("zoo-resizer", Resizer, (3, 5, 5), (5,), family="conv"),
    Entry("zoo-lenet", LeNet, (1, 28, 28), (10,), family="conv"),
    Entry("zoo-depthwise", DepthwiseNet, (3, 24, 24), (8,), family="conv"),
    Entry("zoo-embedding", Embedder, (9,), (4,), inputs="tokens", family="embedding"),
    Entry("zoo-norm-mlp", NormMLP, (24,), (7,), family="mlp"),
    Entry("zoo-running-stats", RunningStats, (6,), (3,), family="stateful", states=("mean", "square"), steps=6,
          batch=4),
    Entry("zoo-kv-cache", KVCacheAttention, (1, 8), (5,), family="stateful", states=("k_cache", "v_cache", "filled"),
          steps=8, batch=1),
)


def _make_inputs(entry: Entry) -> Callable[[np.random.Generator, int], dict[str, np.ndarray]]:
    def make(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        shape = (n, *entry.input_shape)
        if entry.inputs == "tokens":
            return {"x": rng.integers(0, VOCAB, size=shape).astype(np.float32)}
        return {"x": rng.normal(size=shape).astype(np.float32)}

    return make


def _builder(entry: Entry) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        module = seeded_init(entry.build)
        if entry.states:  # no BatchNorm; and a forward pass here would move its state
            return module
        feeds = _make_inputs(entry)(ExactGenerator(CALIBRATION_SEED), 64)
        return recalibrate_batchnorm(module, [(torch.from_numpy(feeds["x"]),)])

    return build


def spec(entry: Entry) -> ModelSpec:
    """The entry described as every model is; a torchvision net without torchvision installed (the `zoo` extra)
    is a UsageError naming the extra, before anything is built."""
    import importlib.util

    from harness.user_model import describe

    if entry.family == "torchvision" and importlib.util.find_spec("torchvision") is None:
        raise UsageError(f"model {entry.name!r} needs torchvision: pip install 'trendsplit-harness[zoo]'")

    return describe(
        entry.name, _builder(entry), inputs={"x": (None, *entry.input_shape)},
        outputs={"y": (None, *entry.output_shape)}, make_inputs=_make_inputs(entry), decision=entry.decision,
        description=f"{entry.family} zoo model", weights_source="seeded random init (seed 0, drawn exactly)"
        + ("" if entry.states else ", BatchNorm statistics re-estimated on the zoo's inputs"), trained=False,
        states=entry.states, steps=entry.steps if entry.states else None, batch=entry.batch)


ZOO: dict[str, Entry] = {e.name: e for e in ENTRIES}


def names_of(names: list[str] | None = None, default: Sequence[str] | None = None) -> list[str]:
    """The models a table is asked for, every one the zoo's (when none are named: `default`, else all of them);
    else a UsageError naming the first it does not have, before any work."""
    chosen = list(names or default or ZOO)
    for name in chosen:
        if name not in ZOO:
            raise UsageError(f"no zoo model named {name!r:.60} (the zoo: {', '.join(ZOO)})")
    return chosen


#: The zoo table's header: `table`'s first two lines; a row per model follows (`row`).
HEADER = ("| model | family | MIL op types | ONNX exporter | onnxruntime max abs | emulated fp32 max abs | "
          "fp16-storage decisions | fp16 decisions | verdict |\n|---|---|---|---|---|---|---|---|---|")


def _table(header: str, label: str, make_row: Callable[[str, int, str], str], names: list[str], n: int,
           folder: str, progress: Callable[[str], None]) -> str:
    """`header` and each model's row(s) from `make_row`, said as `label: name` before each (one process)."""
    rows = []
    for name in names:
        progress(f"{label}: {name}")
        rows.append(make_row(name, n, folder))
    return "\n".join([header, *rows])


def table(names: list[str] | None = None, n: int = 16, folder: str = "artifacts/zoo",
          progress: Callable[[str], None] = lambda _m: None) -> str:
    """The zoo table (markdown): per model, its MIL ops and every emulated profile against torch
    (`harness.cluster.tables.zoo_table`: the same table, a model per task on a Dask cluster)."""
    return _table(HEADER, "zoo", row, names_of(names), n, folder, progress)


def row(name: str, n: int = 16, folder: str = "artifacts/zoo") -> str:
    """One model's line of the zoo table: exported (or reused) in `folder/name`, judged on `n` cases."""
    from pathlib import Path

    from harness import options
    from harness.export.manifest import Manifest
    from harness.mil import load_program
    from harness.parity import steps

    model = spec(ZOO[name])
    backends = "torch,coreml-emulated" if model.stateful else "torch,onnxruntime,coreml-emulated"  # ONNX: no state
    report = steps.parity(model, options.backends(backends), n=n, seed=options.SEED, folder=Path(folder) / name)
    by: dict[str, list] = {}
    for c in report.comparisons:  # a stateful model's pairs are judged per call: a row shows them all
        by.setdefault(c.candidate, []).append(c)
    ops = load_program(next(Path(folder, name).glob("*-fp32.mlpackage"))).op_types() - {"const"}
    onnx = next((a for a in Manifest.read(Path(folder) / name).artifacts if a.format == "onnx"), None)
    exporter = onnx.details.get("exporter", "?") if onnx is not None else "— (stateful)" if model.stateful else "failed"

    def decisions(label: str) -> str:
        cs = by.get(label)
        return f"{sum(c.decisions_agreeing for c in cs)}/{sum(c.decisions_compared for c in cs)}" if cs else "—"

    def err(label: str) -> str:
        cs = by.get(label)
        if not cs:
            return "— (stateful)" if model.stateful and label.startswith("onnx") else "export failed"
        worst = max(cs, key=lambda c: c.max_abs)
        verdict = next((c.verdict for c in cs if c.verdict != "pass"), "pass")
        return f"{worst.max_abs:.1e} ({verdict})"

    return (f"| {name} | {ZOO[name].family} | {len(ops)} | {exporter} | {err('onnxruntime@fp32')} | "
            f"{err('coreml-emulated@fp32[fp32]')} | {decisions('coreml-emulated@fp16[fp16-storage]')} | "
            f"{decisions('coreml-emulated@fp16[fp16]')} | {report.status} |")


#: The precision table's header (`precision_table`); each model adds a line per fp16 pair (`precision_rows`).
PRECISION_HEADER = ("| model | pair | verdict | precision or bug | flips expected at fp16 | advice (ops kept in fp32, "
                    "decisions differing before -> after) |\n|---|---|---|---|---|---|")


#: The precision table's backends: torch and both fp16 profiles of the emulator.
FP16_PAIRS = "torch,coreml-emulated@fp16[fp16-storage],coreml-emulated@fp16[fp16]"


def precision_table(names: list[str] | None = None, n: int = 32, folder: str = "artifacts/zoo",
                    progress: Callable[[str], None] = lambda _m: None) -> str:
    """Per zoo model and fp16 profile: the verdict, precision or bug (`parity --explain`), and for a failing pair
    beyond precision, the advice (`harness.parity.advise`), verified. Markdown."""
    return _table(PRECISION_HEADER, "zoo precision", precision_rows, names_of(names), n, folder, progress)


def precision_rows(name: str, n: int = 32, folder: str = "artifacts/zoo") -> str:
    """One model's lines of the precision table, a line per fp16 pair."""
    from pathlib import Path

    from harness import options
    from harness.parity import steps
    from harness.parity.advise import advise

    model = spec(ZOO[name])
    report = steps.parity(model, options.backends(FP16_PAIRS), n=n, seed=options.SEED,
                          folder=Path(folder) / name, explain=True)
    classes = {p.pair: p for p in report.precision}
    rows = []
    for c in report.comparisons:
        p = classes.get(c.pair)
        expected = f"{sum(f.expected for f in p.flips)} of {len(p.flips)}" if p and p.flips else "—"
        fix = "—"
        if c.verdict == "fail" and p is not None and not p.within:
            a = advise(model, Path(folder) / name, profile=c.candidate.split("[")[-1].rstrip("]"), n=n)
            fix = f"{len(a.fp32_ops)} of {a.compute_ops}: {a.before} -> {a.after}"
        call = f" [call {c.call}]" if c.call else ""  # a stateful model's pairs are judged call by call
        unclassed = "— (stateful: not classified)" if c.call else "—"
        rows.append(f"| {name} | {c.candidate}{call} | {c.verdict.upper()} | {p.label if p else unclassed} | "
                    f"{expected} | {fix} |")
    return "\n".join(rows)


#: The ExecuTorch table's backends: XNNPACK's fp32 and int8 programs (the CPU path apps ship).
FP32_PROGRAM, INT8_PROGRAM = "executorch@fp32[xnnpack]", "executorch@int8[xnnpack]"
EXECUTORCH_BACKENDS = f"torch,{FP32_PROGRAM},{INT8_PROGRAM}"


#: The ExecuTorch table's header: `executorch_table`'s first two lines; a row per model follows (`executorch_row`).
EXECUTORCH_HEADER = ("| model | family | XNNPACK takes (computing ops) | fp32 max abs | fp32 decisions | "
                     "int8 max abs | int8 decisions | int8 verdict |\n|---|---|---|---|---|---|---|---|")


def executorch_table(names: list[str] | None = None, n: int = 32, folder: str = "artifacts/zoo",
                     progress: Callable[[str], None] = lambda _m: None) -> str:
    """The zoo through ExecuTorch (markdown): per model, what XNNPACK left to portable kernels, and the fp32
    and int8 programs against torch (max abs, decisions agreeing, verdict); a failed export's reason
    (`harness.cluster.tables.zoo_executorch_table`: the same table, a model per task on a Dask cluster)."""
    return _table(EXECUTORCH_HEADER, "zoo executorch", executorch_row, names_of(names), n, folder, progress)


def executorch_row(name: str, n: int = 32, folder: str = "artifacts/zoo") -> str:
    """One model's line of the ExecuTorch table: exported (or reused) in `folder/name`, judged on `n` cases."""
    from pathlib import Path

    from harness import options
    from harness.export.manifest import Manifest
    from harness.parity import steps

    if ZOO[name].states:  # refused, in one line, by the ExecuTorch backends (`Backend.refuses`)
        return f"| {name} | {ZOO[name].family} | — (stateful: run on torch and Core ML only) | — | — | — | — | — |"
    report = steps.parity(spec(ZOO[name]), options.backends(EXECUTORCH_BACKENDS), n=n, seed=options.SEED,
                          folder=Path(folder) / name)
    manifest = Manifest.read(Path(folder) / name)
    by = {c.candidate: c for c in report.comparisons}
    failed = {r.label: r.reason.split(" failed: ", 1)[-1].replace("|", "/") for r in report.runs if r.status != "ran"}

    def cells(label: str) -> tuple[str, str, str]:
        """(max abs, decisions agreeing, verdict) of one program against torch, or why it did not run."""
        c = by.get(label)
        if c is None:
            return f"failed: {failed.get(label, '?')[:200]}", "—", "—"
        return f"{c.max_abs:.1e}", f"{c.decisions_agreeing}/{c.decisions_compared}", c.verdict.upper()

    fp32 = next((a for a in manifest.artifacts if (a.format, a.precision) == ("executorch-xnnpack", "fp32")), None)
    if fp32 is None:
        failure = _short_failure(manifest.failures.get("executorch-xnnpack@fp32", "?"))
        return f"| {name} | {ZOO[name].family} | export failed: {failure} | — | — | — | — | — |"
    (f_abs, f_dec, f_verdict), (q_abs, q_dec, q_verdict) = cells(FP32_PROGRAM), cells(INT8_PROGRAM)
    return (f"| {name} | {ZOO[name].family} | {_takes(fp32.details.get('portable_ops', []))} | {f_abs} "
            f"({f_verdict.lower()}) | {f_dec} | {q_abs} | {q_dec} | {q_verdict} |")


#: Ops that only move or make memory (views, copies, constants): left outside a delegate they compute nothing,
#: so "takes all" in the table means every op that computes.
LAYOUT_OPS = frozenset({"aten::view_copy", "aten::squeeze_copy", "aten::unsqueeze_copy", "aten::expand_copy",
                        "aten::select_copy", "aten::slice_copy", "aten::split_with_sizes_copy", "aten::permute_copy",
                        "aten::clone", "aten::full", "aten::full_like",
                        "dim_order_ops._to_dim_order_copy.default"})


def _takes(left: list[str]) -> str:
    """What the XNNPACK delegate took, for the table: all, or all but the computing ops it left to portable kernels."""
    computing = [op for op in left if op not in LAYOUT_OPS]
    return "all" if not computing else "all but " + ", ".join(f"`{op}`" for op in computing)


def _short_failure(reason: str) -> str:
    """An export failure as the table says it: the op and the converter's error type, without the advice."""
    import re

    op = re.search(r"torch op '([^']+)'", reason)
    error = re.search(r"\((\w+Error|\w+Kernel): ([^;]{0,120})", reason)
    said = f"`{op[1]}`" if op else reason.split(";")[0][:120]
    return said + (f" ({error[1]}: {error[2].split(' (')[0]})" if error else "")


#: A few families for the compression columns: a torchvision CNN, attention, a recurrent net, 1-D conv, an MLP.
COMPRESSION_FAMILIES = ("zoo-resnet18", "zoo-transformer", "zoo-bilstm", "zoo-conv1d-bn", "zoo-norm-mlp")


def compression_table(names: list[str] | None = None, n: int = 64, folder: str = "artifacts/zoo-compressed",
                      progress: Callable[[str], None] = lambda _m: None) -> str:
    """The zoo's compression columns (markdown): per model, each variant's size on disk and its decisions
    agreeing with torch (`harness.compression`, judged by the fp16 policy), and the smallest that agrees
    (`harness.cluster.tables.zoo_compression_table`: the same table, a model per task on a Dask cluster)."""
    return _table(compression_header(), "zoo compression", compression_row,
                  names_of(names, COMPRESSION_FAMILIES), n, folder, progress)


def compression_header() -> str:
    """The compression table's first two lines: a column per variant `harness.compression` makes."""
    from harness.compression import methods

    variants = [m.name for m in methods()]
    return ("| model | family | " + " | ".join(variants) + " | smallest agreeing |\n"
            + "|---|---|" + "---|" * len(variants) + "---|")


def compression_row(name: str, n: int = 64, folder: str = "artifacts/zoo-compressed") -> str:
    """One model's line of the compression table: its variants made (or reused) in `folder/name`, judged."""
    from pathlib import Path

    from harness import options
    from harness.compression import compress

    report = compress(spec(ZOO[name]), Path(folder) / name, n=n, seed=options.SEED)
    cells = []
    for v in report.variants:
        d = v.decision
        cells.append(f"{v.bytes / 1024:,.0f} KB, {d.decisions_agreeing}/{d.decisions_compared}"
                     + ("" if v.verdict == "pass" else f" ({v.verdict})"))
    best = report.smallest
    return f"| {name} | {ZOO[name].family} | " + " | ".join(cells) + f" | {best.name if best else '—'} |"
