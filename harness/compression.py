"""The compression trade-off, measured: a model's CoreML program compressed the ways a team ships it, each
variant's size on disk beside its parity against torch on the interpreter, and the smallest variant whose
decisions agree within the policy.

Variants, through `coremltools.optimize.coreml` with its defaults (weights of fewer than 2,048 values stay
dense): the fp32 program, the fp16 program, int8 linear quantization (symmetric, per channel), 8-, 6-, 4-
and 2-bit palettes (k-means when scikit-learn is installed, else uniform: the variant's name says which),
50% and 75% magnitude pruning; at iOS18, whose ops hold them, also int8 and int4 per block (blocks of 32),
a 4-bit palette per grouped channel (groups of 16) and 50% pruning with a 4-bit palette of the kept values
(joint compression). Post-training compression in torch through `coremltools.optimize.torch` (int8 per
channel, a 4-bit k-means palette; int4 per block at iOS18) is converted like the model and measured beside
them. A method that left every weight dense says so and is never the answer. Compressed weights need
iOS16's ops (`constexpr_*`), so a model described for iOS15
is exported for iOS16 here, and the report says so. Each compressed variant is the fp32 program with its
weights compressed, run under the fp32 profile: its row measures the compression alone. The fp16 row runs
under `fp16-storage` (the GPU's default). Every row is judged by one policy (default `fp16`: the decisions,
at most 1 flip in 10,000; numbers reported), against the same torch run.
"""

from __future__ import annotations

import importlib.util
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import atomic, files, targets
from harness.backends.base import in_batches
from harness.backends.pytorch import TorchBackend
from harness.errors import UsageError
from harness.parity.compare import Comparison
from harness.parity.judge import as_read
from harness.parity.tolerances import FP16, Policy, judged_by
from harness.progress import bar
from harness.results import Reading
from harness.spec import ModelSpec, built

#: The oldest target whose ops hold compressed weights.
MIN_TARGET = "iOS16"
RECORD = "compression.json"
FORMAT = "trendsplit-harness compression"
#: The policy every variant is judged by unless one is named: decisions first.
POLICY = FP16


@dataclass(frozen=True)
class Method:
    """One way to ship the weights: which program (`precision`), how its weights are compressed (None: as
    converted), and the interpreter profile that runs it."""

    name: str
    precision: str
    profile: str
    compress: Callable | None = None  # (coremltools.optimize.coreml, MLModel) -> MLModel
    target: str = MIN_TARGET  # the oldest deployment target whose ops hold this variant's weights
    in_torch: Callable | None = None  # torch model -> the model compressed by coremltools.optimize.torch, converted
    dense_why: str = "coremltools.optimize.coreml leaves weights under 2,048 values dense"

    @property
    def compresses(self) -> bool:
        return self.compress is not None or self.in_torch is not None


#: How a row that compressed nothing starts; it says why rather than pass for a compressed variant.
LEFT_DENSE = "nothing compressed: "


#: Per-block quantization's blocks and grouped-channel palettes' groups (coremltools' own defaults are 32 and 32).
BLOCK, GROUP = 32, 16

#: Why a per-block variant left every weight dense: coremltools skips a weight whose input channels the block does
#: not divide ("Invalid block_sizes ... not divisible", in its log only), besides the small ones.
BLOCKED_WHY = (f"coremltools.optimize.coreml blocks only weights whose input channels are a multiple of the block "
               f"({BLOCK}), and leaves weights under 2,048 values dense")
#: And a grouped-channel palette's: the group must divide the output channels (an embedding of 5,000 rows).
GROUPED_WHY = (f"coremltools.optimize.coreml groups only weights whose output channels are a multiple of the group "
               f"({GROUP}), and leaves weights under 2,048 values dense")


def methods(target: str = MIN_TARGET) -> tuple[Method, ...]:
    """The variants measured at `target` (those whose ops it has), in the order the table lists them."""
    palette = "kmeans" if importlib.util.find_spec("sklearn") else "uniform"

    def quantized(dtype: str, granularity: str):
        def compress(cto, m):
            return cto.linear_quantize_weights(m, cto.OptimizationConfig(cto.OpLinearQuantizerConfig(
                mode="linear_symmetric", dtype=dtype, granularity=granularity, block_size=BLOCK)))
        return compress

    def palettized(nbits: int, granularity: str = "per_tensor", joint: bool = False):
        def compress(cto, m):
            config = cto.OpPalettizerConfig(nbits=nbits, mode=palette, granularity=granularity, group_size=GROUP)
            return cto.palettize_weights(m, cto.OptimizationConfig(config), joint_compression=joint)
        return compress

    def pruned(sparsity: float, then=None):
        def compress(cto, m):
            m = cto.prune_weights(m, cto.OptimizationConfig(cto.OpMagnitudePrunerConfig(target_sparsity=sparsity)))
            return then(cto, m) if then is not None else m
        return compress

    def torch_quantized(dtype: str, granularity: str):
        def compress(model):
            from coremltools.optimize.torch.quantization import PostTrainingQuantizer, PostTrainingQuantizerConfig

            config = {"weight_dtype": dtype, "granularity": granularity}
            if granularity == "per_block":
                config["block_size"] = BLOCK
            return PostTrainingQuantizer(model, PostTrainingQuantizerConfig.from_dict(
                {"global_config": config})).compress()
        return compress

    def torch_palettized(nbits: int):
        def compress(model):
            from coremltools.optimize.torch.palettization import PostTrainingPalettizer as Palettizer
            from coremltools.optimize.torch.palettization import PostTrainingPalettizerConfig as Config

            return Palettizer(model, Config.from_dict(
                {"global_config": {"n_bits": nbits}})).compress(num_kmeans_workers=1)
        return compress

    every = (Method("fp32", "fp32", "fp32"), Method("fp16", "fp16", "fp16-storage"),
             Method("int8 per channel", "fp32", "fp32", quantized("int8", "per_channel")),
             Method(f"8-bit palette ({palette})", "fp32", "fp32", palettized(8)),
             Method(f"6-bit palette ({palette})", "fp32", "fp32", palettized(6)),
             Method(f"4-bit palette ({palette})", "fp32", "fp32", palettized(4)),
             Method(f"2-bit palette ({palette})", "fp32", "fp32", palettized(2)),
             Method("50% sparse", "fp32", "fp32", pruned(0.5)),
             Method("75% sparse", "fp32", "fp32", pruned(0.75)),
             Method("int8 per channel (optimize.torch)", "fp32", "fp32", in_torch=torch_quantized("int8",
                                                                                                 "per_channel"),
                    dense_why="optimize.torch's quantizer left every layer dense"),
             Method("4-bit palette (optimize.torch, kmeans)", "fp32", "fp32", in_torch=torch_palettized(4),
                    dense_why="optimize.torch's palettizer takes Linear, Conv2d, Embedding and MultiheadAttention "
                              "layers only"),
             Method(f"int8 per block of {BLOCK}", "fp32", "fp32", quantized("int8", "per_block"), "iOS18",
                    dense_why=BLOCKED_WHY),
             Method(f"int4 per block of {BLOCK}", "fp32", "fp32", quantized("int4", "per_block"), "iOS18",
                    dense_why=BLOCKED_WHY),
             Method(f"4-bit palette per {GROUP} channels ({palette})", "fp32", "fp32",
                    palettized(4, "per_grouped_channel"), "iOS18", dense_why=GROUPED_WHY),
             Method(f"50% sparse + 4-bit palette ({palette})", "fp32", "fp32",
                    pruned(0.5, palettized(4, joint=True)), "iOS18"),
             Method(f"int4 per block of {BLOCK} (optimize.torch)", "fp32", "fp32", target="iOS18",
                    in_torch=torch_quantized("int4", "per_block"),
                    dense_why=f"optimize.torch's per-block quantizer takes only layers with more input channels "
                              f"than the block ({BLOCK}), in a multiple of it"))
    return tuple(m for m in every if targets.TARGETS.index(m.target) <= targets.TARGETS.index(target))


@dataclass(frozen=True)
class Variant:
    name: str
    package: str  # the .mlpackage in the compression folder
    bytes: int  # its size on disk: every file of the package
    profile: str
    weight_ops: tuple[str, ...]  # the constexpr ops that hold its weights, as the program says
    comparisons: tuple[Comparison, ...]  # per output, against torch
    decided: str  # the output the app decides on
    note: str = ""  # e.g. LEFT_DENSE: the method compressed nothing in this model
    share: float = 0.0  # of the program's float weight values, the share its constexpr ops hold

    @property
    def left_dense(self) -> bool:
        return self.note.startswith(LEFT_DENSE)

    @property
    def decision(self) -> Comparison:
        return next(c for c in self.comparisons if c.output in ("", self.decided))

    @property
    def max_abs(self) -> float:
        return max(c.max_abs for c in self.comparisons)

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in self.comparisons}
        return "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"

    def to_dict(self) -> dict:
        d = self.decision
        return {"name": self.name, "package": self.package, "bytes": self.bytes, "profile": self.profile,
                "weight_ops": list(self.weight_ops), "max_abs": self.max_abs, "verdict": self.verdict,
                "decisions_agreeing": d.decisions_agreeing, "decisions_compared": d.decisions_compared,
                "note": self.note, "compressed_share": self.share,
                "comparisons": [c.to_dict() for c in self.comparisons]}


@dataclass(frozen=True)
class CompressionReport:
    model: str
    target: str
    note: str  # why the target differs from the model's, or ""
    n: int
    seed: int
    policy: Policy
    variants: tuple[Variant, ...]

    @property
    def smallest(self) -> Variant | None:
        """The smallest variant that passes the policy (ties: the first listed); one that compressed nothing is
        the dense program under another name, never the answer."""
        passing = [v for v in self.variants if v.verdict == "pass" and not v.left_dense]
        return min(passing, key=lambda v: v.bytes) if passing else None

    @property
    def decided(self) -> bool:
        """Whether the model's decided output has a decision rule (else variants are judged by their numbers)."""
        return self.baseline.decision.decision != "none"

    @property
    def baseline(self) -> Variant:
        return self.variants[0]

    @property
    def conclusion(self) -> str:
        best = self.smallest
        base = self.baseline
        if base.verdict != "pass":  # the variants are the fp32 program compressed: measured against nothing
            why = next((c.inconclusive for c in base.comparisons if c.inconclusive), "") \
                if base.verdict == "inconclusive" else "; ".join(f for c in base.comparisons for f in c.failures)
            said = "proves nothing" if base.verdict == "inconclusive" else "fails"
            return f"nothing judged: the fp32 program's comparison with torch {said}" + (f" ({why})" if why else "")
        what = (f"whose decisions agree within the {self.policy.name} policy" if self.decided else
                f"within the {self.policy.name} policy (numbers: no decision rule)")
        if best is None:
            return ("no variant's decisions agree with torch within the policy" if self.decided else
                    f"no variant {what}")
        return (f"smallest variant {what}: {best.name}, "
                f"{best.bytes / 1024:,.1f} KB ({self.baseline.bytes / best.bytes:.1f}x smaller than fp32)")

    def table(self) -> str:
        """The markdown table: one row per variant."""
        rows = ["| variant | weights held by | size on disk | vs fp32 | profile | max abs | decisions agree | "
                "verdict |", "|---|---|---|---|---|---|---|---|"]
        for v in self.variants:
            d = v.decision
            agree = (f"{d.decisions_agreeing:,}/{d.decisions_compared:,}" if d.decision != "none"
                     else "— (no rule)")
            held = (", ".join(f"`{o}`" for o in v.weight_ops) + f" ({_percent(v.share)} of the weights)"
                    if v.weight_ops else f"const ({v.note})" if v.note else "const")
            rows.append(f"| {v.name} | {held} | "
                        f"{v.bytes / 1024:,.1f} KB | {self.baseline.bytes / v.bytes:.2f}x | `{v.profile}` | "
                        f"{v.max_abs:.2e} | {agree} | {v.verdict.upper()} |")
        return "\n".join(rows)

    def text(self) -> str:
        lines = [f"model {self.model}: {self.n:,} cases (seed {self.seed}), CoreML target {self.target}"
                 + (f" ({self.note})" if self.note else ""),
                 f"judged against torch by the {self.policy.name} policy: {judged_by(self.policy)}", "",
                 self.table(), "", self.conclusion]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        best = self.smallest
        return {"format": FORMAT, "model": self.model, "target": self.target, "note": self.note, "n": self.n,
                "seed": self.seed, "policy": self.policy.to_dict(), "smallest": best.name if best else None,
                "conclusion": self.conclusion, "variants": [v.to_dict() for v in self.variants]}

    def figure(self) -> bytes:
        """Size on disk against decision agreement, one point per variant (PNG; the same bytes for the same
        figures: no date or software version in it)."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
        from matplotlib.ticker import FuncFormatter

        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        for v in self.variants:
            d = v.decision
            if self.decided:
                y = 100 * d.decisions_agreeing / d.decisions_compared if d.decisions_compared else float("nan")
            else:  # no decisions to agree on: the largest error (a log scale, so an exact 0 sits at 1e-12)
                y = max(v.max_abs, 1e-12)
            color = {"pass": "tab:green", "fail": "tab:red"}.get(v.verdict, "tab:gray")
            ax.scatter(v.bytes / 1024, y, color=color, s=40, zorder=3)
            ax.annotate(v.name, (v.bytes / 1024, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if self.decided:
            ax.axhline(100 * self.policy.min_decision_agreement, color="gray", linestyle="--", linewidth=1,
                       label=f"{self.policy.name} policy: at least {100 * self.policy.min_decision_agreement:g}%")
        else:
            ax.set_yscale("log")
        ax.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.margins(x=0.2, y=0.15)
        ax.set_xlabel("size on disk (KB, log scale)")
        ax.set_ylabel("decisions agreeing with torch (%)" if self.decided else
                      "largest error against torch (max abs, log scale)")
        against = "decisions" if self.decided else "numbers"
        ax.set_title(f"{self.model}: compression against {against} ({self.n:,} cases, {self.target})", fontsize=10)
        ax.grid(True, which="both", linewidth=0.3)
        if self.decided:
            ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png", metadata={"Software": None})
        plt.close(fig)
        return out.getvalue()


def not_ours(folder: Path) -> str | None:
    """Why `folder` is not a compression folder this harness wrote (None when it is, so it may be replaced)."""
    try:
        doc = files.read_json(Path(folder) / RECORD, limit=1 << 22)
    except UsageError:
        return f"no {RECORD} this harness wrote"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("variants"), list):
        return f"its {RECORD} is not one this harness wrote"
    written = {RECORD, *(v.get("package") for v in doc["variants"] if isinstance(v, dict))}
    other = sorted(p.name for p in Path(folder).iterdir() if p.name not in written)
    return f"files the harness did not write: {', '.join(other[:5])}" if other else None


def package_bytes(path: Path) -> int:
    """Size on disk of a package: every file in it."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and not f.is_symlink())


def compress(spec: ModelSpec, folder: str | Path, *, n: int, seed: int, policy: Policy | None = None,
             progress: Callable[[str], None] | None = None) -> CompressionReport:
    """Export `spec` for CoreML, compress it every way in `methods()` into `folder` (replaced whole, atomically,
    with `compression.json`), run each variant on `n` seeded cases through the interpreter and judge it against
    torch. A model described for iOS15 is exported for iOS16 (compressed weights need it)."""
    from harness.mil import Interpreter, get_profile, load_program
    from harness.quiet import captured, coremltools

    spec.one_call_at_a_time("compress")
    say = progress or (lambda _m: None)
    policy = policy or POLICY
    note = ""
    if targets.TARGETS.index(spec.target) < targets.TARGETS.index(MIN_TARGET):
        note = f"compressed weights need {MIN_TARGET}; {spec.name} is described for {spec.target}"
        spec = spec.deployed(MIN_TARGET)
    spec = built(spec)
    atomic.check_replaceable(folder, not_ours)
    cases = spec.make_cases(n, seed)
    torch_run = TorchBackend.of(spec)
    reference, activations = torch_run.run_measured(cases.feeds)
    reading = Reading.of(spec)
    ct = coremltools()
    import coremltools.optimize.coreml as cto

    variants = []
    measured = methods(spec.target)
    with atomic.staged_dir(folder, ours=not_ours) as stage, bar(progress, len(measured), f"compress {spec.name}",
                                                                 "variant") as shown:
        programs = {}
        for method in measured:
            shown.set_postfix_str(method.name)
            say(f"{spec.name}: {method.name}")
            if method.precision not in programs:
                programs[method.precision] = _exported(spec, stage, method.precision)
            path = programs[method.precision]
            if method.in_torch is not None:
                path = _exported_from_torch(spec, stage, method)
            elif method.compress is not None:
                path = stage / f"{spec.name}-{_slug(method.name)}.mlpackage"
                with captured(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dense = ct.models.MLModel(str(programs[method.precision]), skip_model_load=True)
                    method.compress(cto, dense).save(str(path))
            program = load_program(path)
            interpreter = Interpreter(program, get_profile(method.profile))
            outputs = in_batches(spec.batch, cases.feeds, lambda feeds, i=interpreter: i.run(feeds).outputs)
            comparisons = tuple(
                as_read(reading, reference[t.name], np.asarray(outputs[t.name], np.float32), policy=policy,
                        output=t.name, decision_mask=cases.decision_mask, activations=activations,
                        reference_name="torch@fp32", candidate_name=method.name)
                for t in spec.outputs)
            weight_ops = tuple(sorted(o for o in program.op_types() if o.startswith("constexpr_")))
            variants.append(Variant(method.name, path.name, package_bytes(path), method.profile, weight_ops,
                                    comparisons, spec.decided_output,
                                    LEFT_DENSE + method.dense_why if method.compresses and not weight_ops else "",
                                    compressed_share(program)))
            shown.update()
        report = CompressionReport(spec.name, spec.target, note, n, seed, policy, tuple(variants))
        atomic.write_text(stage / RECORD, json.dumps(report.to_dict(), indent=1) + "\n")
    return report


def _exported(spec: ModelSpec, folder: Path, precision: str, model: Callable | None = None,
              label: str | None = None) -> Path:
    """The model's CoreML program at `precision` in `folder` (`model`: makes the torch model to convert, by
    default `spec.build`); a failure, the converter's or `model`'s, as the export names it (`label`)."""
    from harness.errors import HarnessError
    from harness.export import conversion_failure
    from harness.export.coreml import export_coreml
    from harness.quiet import captured

    with captured() as said:
        try:
            return folder / export_coreml(spec, (model or spec.build)(), folder, precision)["path"]
        except HarnessError:
            raise
        except Exception as err:
            raise conversion_failure("coreml", label or precision, err, said()) from err


def compressed_share(program) -> float:
    """Of the float weight values the program holds, the share held compressed: the values the last constexpr op
    of each chain makes (a sparse palette feeds a sparse-to-dense op: counted once), against float consts."""
    ops = list(program.operations())
    fed = {b.name for op in ops if op.type.startswith("constexpr_") for bs in op.inputs.values() for b in bs}
    compressed = sum(int(np.prod(t.shape or ())) for op in ops if op.type.startswith("constexpr_")
                     for name, t in op.outputs if name not in fed and t.dtype.startswith("FLOAT"))
    dense = sum(int(np.size(op.value)) for op in ops if op.type == "const" and isinstance(op.value, np.ndarray)
                and op.value.dtype.kind == "f" and op.value.size > 1)
    return compressed / (compressed + dense) if compressed else 0.0


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%" if share >= 0.01 else "under 1%"


def _exported_from_torch(spec: ModelSpec, folder: Path, method: Method) -> Path:
    """The model compressed by `method.in_torch` (coremltools.optimize.torch, post-training), converted at fp32:
    coremltools turns the compression metadata it leaves on the layers into the `constexpr_*` ops."""
    import logging
    import shutil

    work = folder / f".{_slug(method.name)}"
    work.mkdir()
    was = logging.root.manager.disable
    logging.disable(max(was, logging.INFO))  # optimize.torch logs each layer and each k-means worker
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exported = _exported(spec, work, "fp32", lambda: method.in_torch(spec.build().eval()),
                                 f"fp32 {method.name}")
    finally:
        logging.disable(was)
    path = folder / f"{spec.name}-{_slug(method.name)}.mlpackage"
    exported.rename(path)
    shutil.rmtree(work)
    return path


def _slug(name: str) -> str:
    """A variant's name as part of a file name: `6-bit palette (kmeans)` -> `6-bit-palette-kmeans`."""
    return "-".join("".join(c if c.isalnum() or c == "-" else " " for c in name).split())
