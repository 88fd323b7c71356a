"""Check a CoreML `.mlpackage` without running it: what Linux can verify about the artifact.

Reads the spec protobuf with coremltools and checks the contract an app relies on:
program type, feature names, shapes and dtypes at the interface, that an fp16 export
really computes in fp16 (and an fp32 one never does), and the provenance metadata.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from harness import shapes, targets
from harness.export.manifest import Artifact
from harness.records import ArtifactCheck, Finding
from harness.spec import ModelSpec, coreml_state_name

FLOAT_TYPES = ("FLOAT16", "FLOAT32", "FLOAT64", "BFLOAT16")
# Ops that hold constants, move data between precisions, or only route values (a loop's outputs are
# its body's: coremltools keeps a recurrent state in fp32 across iterations; a Core ML state is read and written
# in float16, the one dtype coremltools 9 gives a state, whatever the program computes in); everything else computes.
NON_COMPUTE = ("const", "cast", "while_loop", "cond", "read_state", "write_state", "coreml_update_state")


def _program_ops(block):
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from _program_ops(inner)


def _written_states(block) -> set[str]:
    """The states some op of the program writes (`write_state`, or `coreml_update_state` before serialisation)."""
    written = set()
    for op in _program_ops(block):
        if op.type in ("write_state", "coreml_update_state"):
            arg = op.inputs.get("input" if op.type == "write_state" else "state")
            written.update(b.name for b in (arg.arguments if arg is not None else ())
                           if b.WhichOneof("binding") == "name")
    return written


def _const_maxima(block) -> dict[str, float]:
    """Largest finite |value| of each float32 constant the program holds inline (blobs are weights)."""
    import numpy as np

    out = {}
    for op in _program_ops(block):
        if op.type != "const":
            continue
        value = op.attributes["val"]
        tensor = value.immediateValue.tensor
        if value.WhichOneof("value") == "immediateValue" and tensor.WhichOneof("value") == "floats":
            data = np.abs(np.asarray(tensor.floats.values, dtype=np.float64))
            finite = data[data < 1e38]
            out[op.outputs[0].name] = float(finite.max()) if finite.size else 0.0
    return out


def _why_fp32(op, opset: str, consts: dict[str, float], inputs: frozenset[str] = frozenset()) -> str | None:
    """Why coremltools' fp16 pass (FP16ComputePrecision) leaves `op` in fp32, or None if it would not.

    Its rules: an op type it never casts; a float input whose type domain at this opset has no
    fp16; or an fp32 constant input beyond fp16's range (65,504). And after the pass, coremltools keeps an input
    the program does not read alive with an `identity` of it (`inputs`: the program's input names).
    """
    from coremltools.converters.mil.mil import types
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry
    from coremltools.converters.mil.mil.passes.defs.quantization import FP16ComputePrecision

    if op.type in FP16ComputePrecision._UNSUPPORTED_FP16_OPS:
        return "never cast to fp16"
    kept = [b.name for arg in op.inputs.values() for b in arg.arguments if b.WhichOneof("binding") == "name"]
    if op.type == "identity" and len(kept) == 1 and kept[0] in inputs:
        return f"keeps input {kept[0]}, which the program does not read"
    versions = SSAOpRegistry.core_ops.get(op.type, {})
    # Program opsets are named CoreML5 (iOS15), CoreML6 (iOS16), ...: one below the target's number.
    target = {f"CoreML{v.value - 1}": v for v in versions}.get(opset) or max(versions, default=None)
    cls = versions.get(target) if target is not None else None
    if cls is not None:
        domains = getattr(cls, "type_domains", {})
        for name, spec in cls.input_spec.input_types.items():
            # inputs of any type (ListOrTensorOrDictInputType: identity's) have no type domain: no float rule
            domain = getattr(spec, "type_domain", None) or domains.get(getattr(spec, "_type_domain_id", None), ())
            floats = [t for t in domain if types.is_float(t)]
            if floats and types.fp16 not in floats and name in op.inputs:
                return f"input {name} takes no fp16 at {opset}"
    for arg in op.inputs.values():
        for binding in arg.arguments:
            if binding.WhichOneof("binding") == "name" and consts.get(binding.name, 0.0) > 65504:
                return "an fp32 constant beyond fp16's range"
    return None


def _accepted(arr) -> str:
    """The shapes an input's multiArray type accepts, in words: `range [(1, 1024), (2, 2)]`, `shapes [...]`, `shape`."""
    flexibility = arr.WhichOneof("ShapeFlexibility")
    if flexibility == "shapeRange":
        return f"range {[(int(r.lowerBound), int(r.upperBound)) for r in arr.shapeRange.sizeRanges]}"
    if flexibility == "enumeratedShapes":
        return f"shapes {sorted(tuple(int(d) for d in s.shape) for s in arr.enumeratedShapes.shapes)}"
    return f"shape {tuple(int(d) for d in arr.shape)}"


def _declared(batch: shapes.Batch, rest: tuple[int, ...]) -> str:
    """What `_accepted` reads for an input of fixed dimensions `rest` and the declared batch."""
    if batch.kind == "range":
        return f"range {[batch.sizes, *((d, d) for d in rest)]}"
    if batch.kind == "enumerated":
        return f"shapes {sorted((b, *rest) for b in batch.sizes)}"
    return f"shape {(batch.default, *rest)}"


def check_coreml_artifact(spec: ModelSpec, artifact: Artifact, folder: Path) -> ArtifactCheck:
    from harness.quiet import coremltools

    coremltools()
    from coremltools.proto import MIL_pb2, Model_pb2

    from harness.mlpackage import load_spec

    array_type = Model_pb2.ArrayFeatureType.ArrayDataType.Name
    mil_type = MIL_pb2.DataType.Name
    model = load_spec(Path(folder) / artifact.path)
    findings: list[Finding] = []

    def rule(name: str, ok: bool, detail: str) -> None:
        findings.append(Finding(name, bool(ok), detail))

    kind = model.WhichOneof("Type")
    rule("mlprogram", kind == "mlProgram", f"model type is {kind}")
    ins = [f.name for f in model.description.input]
    outs = [f.name for f in model.description.output]
    want_ins, want_outs = [t.name for t in spec.inputs], [t.name for t in spec.outputs]
    rule("input_names", ins == want_ins, f"inputs {ins}, expected {want_ins}")
    rule("output_names", outs == want_outs, f"outputs {outs}, expected {want_outs}")
    for feature, tensor in zip(model.description.input, spec.inputs, strict=False):
        arr = feature.type.multiArrayType
        dtype = array_type(arr.dataType)
        rule("input_dtype", dtype == "FLOAT32", f"input {feature.name} dtype {dtype}; apps fill float32 arrays")
        got, want = _accepted(arr), _declared(spec.batch, tensor.shape[1:])
        rule("input_shape", got == want, f"input {feature.name} accepts {got}, declared {want}")
    for feature in model.description.output:
        dtype = array_type(feature.type.multiArrayType.dataType)
        rule("output_dtype", dtype == "FLOAT32", f"output {feature.name} dtype {dtype}")
    states = [f.name for f in model.description.state]
    if spec.stateful or states:
        declared = [coreml_state_name(name) for name in spec.states]
        rule("states", states == declared, f"states {states}, declared {declared} (buffers {list(spec.states)}): "
             "the buffers an app keeps in one MLState across predictions")

    compute: Counter[str] = Counter()
    kept_fp32: Counter[str] = Counter()  # fp32 compute ops coremltools' fp16 pass leaves in fp32
    advised: Counter[str] = Counter()  # fp32 compute ops the export kept there as advised (`spec.fp32_ops`)
    unexplained: Counter[str] = Counter()
    target = ""
    if kind == "mlProgram":
        main = model.mlProgram.functions.get("main")
        rule("main_function", main is not None, "program has a 'main' function")
        if main is not None:
            target = targets.of_opset(main.opset)
            rule("deployment_target", target == spec.target,
                 f"program opset {main.opset} ({target}), exported for {spec.target}")
            block = main.block_specializations[main.opset]
            consts = _const_maxima(block)
            if states:
                # coremltools converts some in-place writes to nothing, without a word (`buf[:, i] = v` with a tensor
                # index i): the program then reads the state's initial value on every call while torch's moves on
                unwritten = [name for name in states if name not in _written_states(block)]
                rule("state_writes", not unwritten,
                     f"state {', '.join(unwritten)} is read but never written by the program: the converter dropped "
                     "forward's update (coremltools drops `buf[:, i] = v` with a tensor index i); write the whole "
                     "buffer (`buf[:, :] = ...`, a one-hot mask for a position) or slices at fixed positions, or "
                     "leave a buffer forward does not update out of states" if unwritten else
                     f"every state written by the program ({', '.join(states)})")
            for op in _program_ops(block):
                if op.type in NON_COMPUTE:
                    continue
                dtypes = {mil_type(out.type.tensorType.dataType) for out in op.outputs} & set(FLOAT_TYPES)
                for t in dtypes:
                    compute[t] += 1
                if artifact.precision == "fp16" and "FLOAT32" in dtypes:
                    if any(out.name in spec.fp32_ops for out in op.outputs):  # `api.apply_advice`'s, on purpose
                        advised[op.type] += 1
                        continue
                    reason = _why_fp32(op, main.opset, consts, frozenset(i.name for i in main.inputs))
                    (kept_fp32 if reason else unexplained)[f"{op.type} ({reason or 'no reason'})"] += 1
    if artifact.precision == "fp16":
        rule("computes_in_fp16", compute.get("FLOAT16") and not unexplained,
             f"compute-op outputs by dtype: {dict(compute)}; "
             + (f"in FLOAT32 without a reason coremltools would have: {dict(unexplained)}" if unexplained else
                f"kept in FLOAT32 as coremltools does: {dict(kept_fp32)}" if kept_fp32 else
                "every compute op in FLOAT16" if not advised else "the others in FLOAT16")
             + (f"; kept in FLOAT32 as advised (fp32_ops): {dict(advised)}" if advised else ""))
    else:
        rule("computes_in_fp32", compute and set(compute) == {"FLOAT32"},
             f"compute-op outputs by dtype: {dict(compute)}; an fp32 program has no FLOAT16")

    meta = dict(model.description.metadata.userDefined)
    expected = {**spec.metadata, "model": spec.name, "precision": artifact.precision}
    wrong = {k: meta.get(k) for k, v in expected.items() if meta.get(k) != v}
    rule("metadata", not wrong, f"metadata mismatches: {wrong}" if wrong else
         f"model, precision and {len(spec.metadata)} metadata entries recorded; "
         f"author {model.description.metadata.author!r}")
    return ArtifactCheck(artifact=artifact.path, precision=artifact.precision,
                         findings=tuple(findings), compute_dtypes=dict(compute), target=target)
