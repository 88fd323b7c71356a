"""The MIL program of an `.mlpackage`, parsed with coremltools' protobufs and blob reader.

Weights come in every dtype the weight file (`weights/weight.bin`, coremltools' blob storage)
holds: float16/32, 8/16/32-bit integers, and the sub-byte types of iOS18's compression ops
(UINT1/2/3/4/6, INT4), which the blob reader unpacks and an inline value packs least
significant bit first. State inputs (`ct.StateType`, iOS18) are kept apart from the data inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

#: MIL dtype name -> numpy dtype at full precision (profiles decide fp16 storage).
NUMPY_DTYPES = {
    "FLOAT16": np.float16, "FLOAT32": np.float32, "FLOAT64": np.float64, "BOOL": np.bool_,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    # sub-byte types (iOS18 compression): each value held in a byte
    "INT4": np.int8, "UINT1": np.uint8, "UINT2": np.uint8, "UINT3": np.uint8, "UINT4": np.uint8, "UINT6": np.uint8,
}
#: Sub-byte MIL dtype -> (bits per value, signed).
SUB_BYTE = {"INT4": (4, True), "UINT1": (1, False), "UINT2": (2, False), "UINT3": (3, False), "UINT4": (4, False),
            "UINT6": (6, False)}
#: Every dtype coremltools' blob storage writes, and the reader's method for it (sub-byte ones come back unpacked).
_BLOB_READERS = {"FLOAT16": ("read_fp16_data", np.float16), "FLOAT32": ("read_float_data", np.float32),
                 "INT8": ("read_int8_data", np.int8), "UINT8": ("read_uint8_data", np.uint8),
                 "INT16": ("read_int16_data", np.int16), "UINT16": ("read_uint16_data", np.uint16),
                 "INT32": ("read_int32_data", np.int32), "UINT32": ("read_uint32_data", np.uint32),
                 "INT4": ("read_int4_data", np.int8), "UINT1": ("read_uint1_data", np.uint8),
                 "UINT2": ("read_uint2_data", np.uint8), "UINT3": ("read_uint3_data", np.uint8),
                 "UINT4": ("read_uint4_data", np.uint8), "UINT6": ("read_uint6_data", np.uint8)}


def mil_name(name: str) -> str:
    """A torch value's name as the saved MIL program spells it (coremltools sanitises names so)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "var_" + name if name[:1].isdigit() else name


class ProgramError(HarnessError):
    """The package holds something this reader does not understand."""


@dataclass(frozen=True)
class TensorType:
    dtype: str  # MIL name, e.g. "FLOAT16"
    shape: tuple[int | None, ...] | None  # None: not a tensor (list, tuple, ...)


@dataclass(frozen=True)
class Binding:
    name: str | None = None
    value: object = None  # np.ndarray or str, when given inline


@dataclass
class Operation:
    type: str
    name: str
    location: str  # e.g. "main/block0/op12"
    inputs: dict[str, list[Binding]]
    outputs: list[tuple[str, TensorType]]
    blocks: list[Block] = field(default_factory=list)
    value: object = None  # a const op's value


@dataclass
class Block:
    inputs: list[tuple[str, TensorType]]
    operations: list[Operation]
    outputs: list[str]


@dataclass
class Program:
    path: Path
    inputs: list[tuple[str, TensorType]]  # the data inputs a prediction feeds
    main: Block
    opset: str  # e.g. "CoreML8" (iOS18)
    states: list[tuple[str, TensorType]] = field(default_factory=list)  # state buffers (ct.StateType), wrapped type

    def operations(self) -> Iterator[Operation]:
        """Every op of the program, nested blocks included, in program order."""

        def walk(block: Block) -> Iterator[Operation]:
            for op in block.operations:
                yield op
                for inner in op.blocks:
                    yield from walk(inner)

        return walk(self.main)

    def op_types(self) -> set[str]:
        return {op.type for op in self.operations()}

    def output_types(self) -> dict[str, TensorType]:
        """The declared type of each of the main block's outputs (what a device hands back)."""
        declared = dict(self.inputs)
        for op in self.main.operations:
            declared.update(op.outputs)
        return {name: declared[name] for name in self.main.outputs}


def _type(value_type) -> TensorType:
    from coremltools.proto import MIL_pb2

    if value_type.WhichOneof("type") != "tensorType":
        return TensorType(value_type.WhichOneof("type") or "unknown", None)
    t = value_type.tensorType
    shape = tuple(d.constant.size if d.WhichOneof("dimension") == "constant" else None
                  for d in t.dimensions)
    return TensorType(MIL_pb2.DataType.Name(t.dataType), shape)


class _Weights:
    def __init__(self, package):
        self.package = package  # a checked harness.mlpackage.Package
        self.readers: dict[str, object] = {}

    def read(self, file_name: str, offset: int, dtype: str) -> np.ndarray:
        from coremltools import libmilstoragepython

        rel = file_name.removeprefix("@model_path/")
        path = self.package.beside_spec(rel)  # refuses paths that leave the package
        if dtype not in _BLOB_READERS:
            raise ProgramError(f"weights of dtype {dtype} in {rel} are not supported "
                               f"(the weight file holds {', '.join(_BLOB_READERS)})")
        reader = self.readers.get(rel)
        if reader is None:
            reader = self.readers[rel] = libmilstoragepython._BlobStorageReader(str(path))
        method, np_dtype = _BLOB_READERS[dtype]
        return np.asarray(getattr(reader, method)(offset)).view(np_dtype)


def _value(value, weights: _Weights):
    ttype = _type(value.type)
    kind = value.WhichOneof("value")
    if kind == "blobFileValue":
        data = weights.read(value.blobFileValue.fileName, value.blobFileValue.offset, ttype.dtype)
    elif kind == "immediateValue" and value.immediateValue.WhichOneof("value") == "list":
        return [_value(v, weights) for v in value.immediateValue.list.values]  # e.g. classify's classes
    elif kind == "immediateValue":
        tensor = value.immediateValue.tensor
        field_name = tensor.WhichOneof("value")
        if field_name == "strings":
            vals = list(tensor.strings.values)
            return vals[0] if ttype.shape == () else vals
        if field_name == "bytes" and ttype.dtype in SUB_BYTE:
            data = _unpack(tensor.bytes.values, ttype.dtype, int(np.prod(ttype.shape or ())))
        elif field_name == "bytes":
            data = np.frombuffer(tensor.bytes.values, dtype=NUMPY_DTYPES[ttype.dtype])
        elif field_name is None:
            data = np.array([], dtype=NUMPY_DTYPES.get(ttype.dtype, np.float32))
        else:
            data = np.array(list(getattr(tensor, field_name).values),
                            dtype=NUMPY_DTYPES.get(ttype.dtype, np.float32))
    else:
        raise ProgramError(f"a value of kind {kind!r} is not supported")
    shape = ttype.shape or ()
    if ttype.dtype not in NUMPY_DTYPES:
        raise ProgramError(f"a value of dtype {ttype.dtype} is not supported")
    if data.size != int(np.prod(shape)):
        raise ProgramError(f"a {ttype.dtype} value of shape {list(shape)} holds {data.size} elements")
    return data.astype(NUMPY_DTYPES[ttype.dtype], copy=False).reshape(shape)


def _unpack(packed: bytes, dtype: str, count: int) -> np.ndarray:
    """`count` sub-byte values packed least significant bit first (coremltools' `pack_elements_into_bits`)."""
    nbits, signed = SUB_BYTE[dtype]
    bits = np.unpackbits(np.frombuffer(packed, np.uint8), bitorder="little")
    if bits.size < count * nbits:
        raise ProgramError(f"an inline {dtype} value holds {bits.size} bits, fewer than {count} values need")
    values = (bits[: count * nbits].reshape(count, nbits).astype(np.int16) << np.arange(nbits)).sum(axis=1)
    if signed:  # two's complement
        values = np.where(values >= 1 << (nbits - 1), values - (1 << nbits), values)
    return values.astype(NUMPY_DTYPES[dtype])


def _block(block, weights: _Weights, where: str) -> Block:
    ops = []
    for k, op in enumerate(block.operations):
        location = f"{where}/op{k}"
        outputs = [(o.name, _type(o.type)) for o in op.outputs]
        inputs = {param: [Binding(name=b.name) if b.WhichOneof("binding") == "name"
                          else Binding(value=_value(b.value, weights)) for b in arg.arguments]
                  for param, arg in op.inputs.items()}
        if op.type.startswith("constexpr_"):  # compile-time ops carry their operands as attributes
            inputs.update({key: [Binding(value=_value(value, weights))] for key, value in op.attributes.items()
                           if key != "name"})
        parsed = Operation(op.type, outputs[0][0] if outputs else f"op{k}", location, inputs, outputs,
                           [_block(b, weights, f"{location}/block{j}") for j, b in enumerate(op.blocks)])
        if op.type == "const":
            parsed.value = _value(op.attributes["val"], weights)
        ops.append(parsed)
    return Block([(i.name, _type(i.type)) for i in block.inputs], ops, list(block.outputs))


def load_program(package: str | Path, function: str = "main") -> Program:
    """Parse an `.mlpackage` into a `Program` (its manifest checked: nothing outside it is read)."""
    from harness.mlpackage import load_spec, read_package

    package = Path(package)
    spec = load_spec(package)
    if spec.WhichOneof("Type") != "mlProgram":
        raise ProgramError(f"{package.name} is a {spec.WhichOneof('Type')}, not an mlprogram")
    functions = spec.mlProgram.functions
    if function not in functions:
        raise ProgramError(f"{package.name} has no function {function!r} (it has {list(functions)})")
    fn = functions[function]
    block = fn.block_specializations[fn.opset]
    weights = _Weights(read_package(package))
    data = [(i.name, _type(i.type)) for i in fn.inputs if i.type.WhichOneof("type") != "stateType"]
    states = [(i.name, _type(i.type.stateType.wrappedType)) for i in fn.inputs
              if i.type.WhichOneof("type") == "stateType"]
    return Program(package, data, _block(block, weights, f"{function}/block0"), fn.opset, states)
