"""Check a CoreML `.mlpackage` without running it: what Linux can verify about the artifact.

Reads the spec protobuf with coremltools and checks the contract an app relies on:
program type, feature names, shapes and dtypes at the interface, that an fp16 export
really computes in fp16 (and an fp32 one never does), and the provenance metadata.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.export.coreml import MAX_BATCH
from harness.export.manifest import Artifact
from harness.spec import ModelSpec

FLOAT_TYPES = ("FLOAT16", "FLOAT32", "FLOAT64", "BFLOAT16")
# Ops that hold constants, move data between precisions, or only route values (a loop's outputs are
# its body's: coremltools keeps a recurrent state in fp32 across iterations); everything else computes.
NON_COMPUTE = ("const", "cast", "while_loop", "cond")


@dataclass(frozen=True)
class Finding:
    rule: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class ArtifactCheck:
    artifact: str
    precision: str
    findings: tuple[Finding, ...]
    compute_dtypes: dict[str, int]  # dtype -> number of compute-op outputs of that dtype

    def __bool__(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def to_dict(self) -> dict:
        return {"artifact": self.artifact, "precision": self.precision, "passed": bool(self),
                "compute_dtypes": self.compute_dtypes,
                "findings": [f.to_dict() for f in self.findings]}


def _program_ops(block):
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from _program_ops(inner)


def check_coreml_artifact(spec: ModelSpec, artifact: Artifact, folder: Path) -> ArtifactCheck:
    from harness.mlpackage import load_spec
    from coremltools.proto import MIL_pb2, Model_pb2

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
        ranges = [(r.lowerBound, r.upperBound) for r in arr.shapeRange.sizeRanges]
        want = [(1, MAX_BATCH) if d is None else (d, d) for d in tensor.shape]
        rule("input_shape", ranges == want, f"input {feature.name} shape ranges {ranges}, expected {want}")
    for feature in model.description.output:
        dtype = array_type(feature.type.multiArrayType.dataType)
        rule("output_dtype", dtype == "FLOAT32", f"output {feature.name} dtype {dtype}")

    compute: Counter[str] = Counter()
    if kind == "mlProgram":
        main = model.mlProgram.functions.get("main")
        rule("main_function", main is not None, "program has a 'main' function")
        if main is not None:
            block = main.block_specializations[main.opset]
            for op in _program_ops(block):
                if op.type in NON_COMPUTE:
                    continue
                for out in op.outputs:
                    t = mil_type(out.type.tensorType.dataType)
                    if t in FLOAT_TYPES:
                        compute[t] += 1
    if artifact.precision == "fp16":
        rule("computes_in_fp16", compute and set(compute) == {"FLOAT16"},
             f"compute-op outputs by dtype: {dict(compute)}; an fp16 program computes in FLOAT16 "
             "only")
    else:
        rule("computes_in_fp32", compute and set(compute) == {"FLOAT32"},
             f"compute-op outputs by dtype: {dict(compute)}; an fp32 program has no FLOAT16")

    meta = dict(model.description.metadata.userDefined)
    expected = {**spec.metadata, "model": spec.name, "precision": artifact.precision}
    wrong = {k: meta.get(k) for k, v in expected.items() if meta.get(k) != v}
    rule("metadata", not wrong, f"metadata mismatches: {wrong}" if wrong else
         f"model, precision and {len(spec.metadata)} metadata entries recorded; author {model.description.metadata.author!r}")
    return ArtifactCheck(artifact=artifact.path, precision=artifact.precision,
                         findings=tuple(findings), compute_dtypes=dict(compute))
