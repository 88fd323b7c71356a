"""What a run saves, in a portable format a Swift app can write too: outputs, inputs, the run's index.

Three JSON files, each with a `format` and a `version`, read strictly (a malformed or
foreign file is one `ResultsError` naming the file and what is wrong):

- a **results** file per backend: its outputs, which inputs it saw (seed, count and the
  sha256 of the input feeds), and provenance (backend label, precision, profile or compute
  unit, device and OS, tool versions, model name and weights sha256). Written by `run`, by
  `.ci/coreml.py` on a Mac and by the Swift recorder on a phone;
- `cases.json`: the inputs themselves, what made each case, and how an app reads the
  outputs (decision rule, threshold, policy): what `compare` needs besides the outputs;
- `run.json`: the backends of one run in order (the first is the reference) and the
  artifact checks of its export.

Arrays are `{"dtype", "shape", "data"}` with `data` the base64 of the little-endian bytes:
no pickle, no npz, nothing a reader must trust.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import math
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harness import atomic
from harness.errors import UsageError
from harness.files import read_json
from harness.records import Cases

RESULTS_FORMAT = "trendsplit-harness/results"
CASES_FORMAT = "trendsplit-harness/cases"
RUN_FORMAT = "trendsplit-harness/run"
VERSION = 1
CASES_FILE = "cases.json"
RUN_FILE = "run.json"
#: dtype name in a file -> numpy dtype (always read little-endian).
DTYPES = {"float32": "<f4", "float16": "<f2", "float64": "<f8", "int32": "<i4", "bool": "|b1"}
STATUSES = ("ran", "unavailable", "failed", "nondeterministic")
#: The ExecuTorch programs an export holds, as `delegate@precision`: the keys of `executorch_programs_sha256`.
EXECUTORCH_PROGRAMS = ("xnnpack@fp32", "xnnpack@int8", "portable@fp32", "coreml@fp16")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: A saved array has at most this many dimensions (numpy's own limit is 64; ours have 1-5).
MAX_DIMS = 32
#: A stateful model's calls per case, at most: a sequence that long already shows a drift that grows.
MAX_STEPS = 1024
#: The largest document read when nothing says how large it should be (a cases file, a
#: comparison, a results file read on its own). A results file read beside its cases is
#: capped by what its outputs can take instead (`CaseFile.results_limit`).
MAX_DOCUMENT_BYTES = 1 << 30
#: Room in a results file for everything but its outputs (provenance, labels, indentation).
RESULTS_SLACK_BYTES = 4 << 20
#: A run's index names its files and holds its artifact checks: a few kilobytes.
MAX_RUN_INDEX_BYTES = 16 << 20
#: `name@precision[option]`: what a backend label says.
_LABEL = re.compile(r"^(?P<name>[\w-]+)@(?P<precision>\w+)(?:\[(?P<option>[\w-]+)\])?$")


class ResultsError(UsageError):
    """A saved results, cases or run file that is malformed, foreign, or of another format version."""


# -- arrays ---------------------------------------------------------------------------------------

def encode_array(array: np.ndarray) -> dict:
    """`{"dtype", "shape", "data"}`: the array's little-endian bytes in base64."""
    a = np.asarray(array)
    name = next((k for k, v in DTYPES.items() if np.dtype(v) == a.dtype.newbyteorder("<")), None)
    if name is None:
        raise ResultsError(f"cannot save an array of dtype {a.dtype}; savable: {', '.join(DTYPES)}")
    data = np.ascontiguousarray(a, dtype=DTYPES[name]).tobytes()
    return {"dtype": name, "shape": list(a.shape), "data": base64.b64encode(data).decode("ascii")}


def decode_array(value: object, where: str) -> np.ndarray:
    """The array `encode_array` wrote; `ResultsError` naming `where` when it is not one."""
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data"}:
        raise ResultsError(f"{where}: an array is an object with exactly dtype, shape and data")
    dtype, shape, data = value["dtype"], value["shape"], value["data"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ResultsError(f"{where}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise ResultsError(f"{where}: shape must be a list of non-negative integers, got {_short(shape)}")
    if len(shape) > MAX_DIMS:
        raise ResultsError(f"{where}: shape has {len(shape)} dimensions; an array here has at most {MAX_DIMS}")
    if not isinstance(data, str):
        raise ResultsError(f"{where}: data must be a base64 string")
    itemsize = np.dtype(DTYPES[dtype]).itemsize
    expected = math.prod(shape) * itemsize
    characters = 4 * -(-expected // 3)
    if len(data) != characters:  # before decoding: the declared shape says how long data is
        raise ResultsError(f"{where}: shape {_short(shape)} of {dtype} needs {expected:,} bytes ({characters:,} "
                           f"base64 characters), data has {len(data):,} characters")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ResultsError(f"{where}: data is not valid base64") from None
    if len(raw) != expected:
        raise ResultsError(f"{where}: shape {shape} of {dtype} needs {expected:,} bytes, data holds {len(raw):,}")
    array = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(shape)
    return array.astype(array.dtype.newbyteorder("="))


def feeds_sha256(feeds: Mapping[str, np.ndarray]) -> str:
    """sha256 of the input feeds: for each input by name, `"<name> float32 <d0,d1,...>\\n"` then its
    float32 little-endian bytes. The Swift recorder computes the same over a fixture's inputs."""
    digest = hashlib.sha256()
    for name in sorted(feeds):
        a = np.ascontiguousarray(feeds[name], dtype="<f4")
        digest.update(f"{name} float32 {','.join(map(str, a.shape))}\n".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


# -- reading helpers --------------------------------------------------------------------------------

def write_document(path: str | Path, doc: dict) -> Path:
    """A document of this format at `path`, atomically: indented JSON, one trailing newline."""
    return atomic.write_text(path, json.dumps(doc, indent=1) + "\n")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_document(path: str | Path, expected: str, limit: int = MAX_DOCUMENT_BYTES) -> dict:
    """A document of format `expected` from a regular file of at most `limit` bytes (`harness.files`)."""
    path = Path(path)
    doc = read_json(path, limit=limit, error=ResultsError)
    if not isinstance(doc, dict) or "format" not in doc:
        raise ResultsError(f"{path} is not a trendsplit-harness file (no 'format' field)")
    if doc["format"] != expected:
        raise ResultsError(f"{path} is a {doc['format']!r} file, not {expected!r}")
    version = doc.get("version")
    if type(version) is not int:
        raise ResultsError(f"{path}: 'version' must be an integer, got {version!r}")
    if version != VERSION:
        raise ResultsError(f"{path} is {expected} version {version}; this harness reads version {VERSION}")
    return doc


class _Fields:
    """Typed access to one JSON object, each mistake named with the file and the key."""

    def __init__(self, doc: object, where: str, keys: set[str], optional: frozenset[str] = frozenset()):
        if not isinstance(doc, dict):
            raise ResultsError(f"{where} must be an object")
        missing = keys - set(doc) - optional
        unknown = set(doc) - keys
        if missing:
            raise ResultsError(f"{where} lacks {', '.join(sorted(missing))}")
        if unknown:
            raise ResultsError(f"{where} has unknown fields {', '.join(sorted(unknown))}")
        self.doc, self.where = doc, where

    def get(self, key: str, kind, default=None):
        value = self.doc.get(key, default)
        ok = (type(value) is int if kind is int else isinstance(value, int | float) and type(value) is not bool
              if kind is float else isinstance(value, kind))
        if not ok or (kind is float and not math.isfinite(value)):
            raise ResultsError(f"{self.where}: {key!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
        return value

    def sha256(self, key: str) -> str:
        value = self.get(key, str)
        if not _SHA256.match(value):
            raise ResultsError(f"{self.where}: {key!r} must be 64 lowercase hex digits, got {value!r}")
        return value


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ResultsError(f"{where} must be an object")
    return value


def _strings(value: object, where: str) -> dict:
    """A provenance-like object: string keys, values strings, numbers or objects of strings."""
    if not isinstance(value, dict):
        raise ResultsError(f"{where} must be an object")
    for k, v in value.items():
        if isinstance(v, dict):
            _strings(v, f"{where}.{k}")
        elif not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ResultsError(f"{where}.{k} must be a string, a number or an object, got {v!r}")
    return value


# -- the results file ------------------------------------------------------------------------------

def results_file_name(label: str) -> str:
    """The file a run saves a backend's results in: coreml-emulated@fp16[fp16] -> coreml-emulated_fp16_fp16.json."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", label.replace("]", "")) + ".json"


@dataclass(frozen=True)
class Inputs:
    """Which inputs a run saw: enough to refuse comparing runs over different inputs."""

    seed: int | None  # the generator seed (a fixture's generator seed for a device run)
    count: int
    sha256: str  # feeds_sha256 of the input feeds

    def to_dict(self) -> dict:
        return {"seed": self.seed, "count": self.count, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, doc: object, where: str) -> Inputs:
        f = _Fields(doc, where, {"seed", "count", "sha256"})
        seed = f.doc["seed"]
        if seed is not None and type(seed) is not int:
            raise ResultsError(f"{where}: 'seed' must be an integer or null, got {seed!r}")
        count = f.get("count", int)
        if count < 1:
            raise ResultsError(f"{where}: 'count' must be at least 1, got {count}")
        return cls(seed, count, f.sha256("sha256"))


def host() -> dict:
    """This machine as provenance: hardware model and OS (the Swift recorder writes the same keys)."""
    device = platform.machine()
    if sys.platform == "darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            device = subprocess.run(["sysctl", "-n", "hw.model"], capture_output=True, text=True,
                                    timeout=5).stdout.strip() or device
        system = f"macOS {platform.mac_ver()[0]}"
    else:
        system = f"{platform.system()} {platform.release()}"
    return {"device": device, "os": system}


@dataclass(frozen=True)
class Results:
    """One backend's outputs on one set of inputs, with where they came from."""

    model: str
    weights_sha256: str
    backend: str  # the label, e.g. "coreml@fp16[CPU_AND_NE]": name@precision[option]
    precision: str
    option: str  # the profile or compute unit ("" when the backend has none)
    inputs: Inputs
    status: str  # "ran" | "unavailable" | "failed" | "nondeterministic" (a reference that disagreed with itself)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0
    provenance: dict = field(default_factory=dict)  # device, os, tools, recorder, created, artifact
    #: sha256 of the weights of the CoreML model the backend loaded, measured by whoever ran it
    #: (`harness.mlpackage.weights_sha256`; the Swift recorder's `ModelWeights`); "" when it loads none.
    loaded_weights_sha256: str = ""
    #: Per case, the largest magnitude the model's layers saw (float64; measured by the torch
    #: reference, `harness.backends.pytorch.ActivationPeak`): the scale of the allowance when these
    #: results are the reference. None where the backend cannot tell.
    activations: np.ndarray | None = None

    @property
    def name(self) -> str:
        """The backend's registered name, e.g. "coreml" or "coreml-emulated"."""
        return self.backend.split("@", 1)[0]

    @property
    def file_name(self) -> str:
        """A shell-safe file name for this backend: coreml-emulated@fp16[fp16] -> coreml-emulated_fp16_fp16.json."""
        return results_file_name(self.backend)

    def describe(self) -> str:
        """The label with the device it ran on, for reports."""
        where = ", ".join(v for v in (self.provenance.get("device"), self.provenance.get("os")) if v)
        return f"{self.backend} ({where})" if where else self.backend

    def check_label(self, where: str | None = None) -> None:
        """The label says name@precision[option]: refuse (naming the field) a `precision` or `option`
        that says otherwise, since the precision picks the policy that judges the numbers."""
        where = where or self.describe()
        match = _LABEL.match(self.backend)
        if match is None:
            raise ResultsError(f"{where}: backend label {_short(self.backend)} is not name@precision[option]")
        if self.precision != match["precision"]:
            raise ResultsError(f"{where}: backend.label {self.backend!r} says precision {match['precision']!r}, "
                               f"backend.precision {_short(self.precision)}: they must agree")
        if self.option != (match["option"] or ""):
            raise ResultsError(f"{where}: backend.label {self.backend!r} says option {match['option'] or ''!r}, "
                               f"backend.option {_short(self.option)}: they must agree")

    def to_dict(self) -> dict:
        model = {"name": self.model, "weights_sha256": self.weights_sha256}
        if self.loaded_weights_sha256:
            model["loaded_weights_sha256"] = self.loaded_weights_sha256
        return {
            "format": RESULTS_FORMAT, "version": VERSION,
            "model": model,
            "backend": {"label": self.backend, "precision": self.precision, "option": self.option},
            "inputs": self.inputs.to_dict(),
            "run": {"status": self.status, "reason": self.reason, "seconds": self.seconds},
            "provenance": self.provenance,
            "outputs": {name: encode_array(a) for name, a in self.outputs.items()},
            **({"activations": encode_array(np.asarray(self.activations, np.float64))}
               if self.activations is not None else {}),
        }

    def write(self, path: str | Path) -> Path:
        return write_document(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path, limit: int = MAX_DOCUMENT_BYTES) -> Results:
        """The results file at `path`, of at most `limit` bytes (`CaseFile.results_limit` beside its cases)."""
        where = str(path)
        doc = read_document(path, RESULTS_FORMAT, limit)
        top = _Fields(doc, where, {"format", "version", "model", "backend", "inputs", "run", "provenance",
                                   "outputs", "activations"}, optional=frozenset({"activations"}))
        model = _Fields(doc["model"], f"{where}: model", {"name", "weights_sha256", "loaded_weights_sha256"},
                        optional=frozenset({"loaded_weights_sha256"}))
        backend = _Fields(doc["backend"], f"{where}: backend", {"label", "precision", "option"})
        run = _Fields(doc["run"], f"{where}: run", {"status", "reason", "seconds"})
        status = run.get("status", str)
        if status not in STATUSES:
            raise ResultsError(f"{where}: run status {status!r} is not one of {', '.join(STATUSES)}")
        inputs = Inputs.from_dict(doc["inputs"], f"{where}: inputs")
        outputs = top.get("outputs", dict)
        arrays = {}
        for name, value in outputs.items():
            a = decode_array(value, f"{where}: output {name!r}")
            if a.ndim == 0 or len(a) != inputs.count:
                raise ResultsError(f"{where}: output {name!r} has shape {list(a.shape)}, but inputs.count says "
                                   f"{inputs.count} cases (batch first)")
            arrays[name] = a
        if status == "ran" and not arrays:
            raise ResultsError(f"{where}: the run is marked 'ran' but holds no outputs")
        activations = None
        if "activations" in doc:
            activations = decode_array(doc["activations"], f"{where}: activations")
            if (activations.dtype != np.float64 or activations.shape != (inputs.count,)
                    or not np.all(np.isfinite(activations) & (activations >= 0))):
                raise ResultsError(f"{where}: activations must be {inputs.count} finite non-negative float64 "
                                   f"values (one per case), got {activations.dtype} {list(activations.shape)}")
        loaded = model.sha256("loaded_weights_sha256") if "loaded_weights_sha256" in model.doc else ""
        results = cls(model=model.get("name", str), weights_sha256=model.sha256("weights_sha256"),
                      backend=backend.get("label", str), precision=backend.get("precision", str),
                      option=backend.get("option", str), inputs=inputs, status=status, outputs=arrays,
                      reason=run.get("reason", str), seconds=float(run.get("seconds", float)),
                      provenance=_strings(doc["provenance"], f"{where}: provenance"), loaded_weights_sha256=loaded,
                      activations=activations)
        results.check_label(where)
        return results


# -- the cases file --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """How an app reads a model's outputs: what `compare` judges by (from the model's spec)."""

    outputs: tuple[str, ...]  # in the spec's order
    decided_output: str
    decision: str  # "threshold" | "argmax" | "none"
    threshold: float
    policy: str | None  # a named policy for every pair, or None: by precision
    #: Each output's shape per case (the batch dimension left out), in `outputs`' order; () when not
    #: recorded (a cases file from before they were). They cap a results file's size before it is read.
    shapes: tuple[tuple[int, ...], ...] = ()
    #: A stateful model's calls per case (each output per case is then (steps, batch, ...), and each call is
    #: judged on its own, so a drift that grows over the sequence shows where it starts); 0 for a stateless model.
    steps: int = 0

    @classmethod
    def of(cls, spec) -> Reading:
        return cls(tuple(t.name for t in spec.outputs), spec.decided_output, spec.decision, float(spec.threshold),
                   spec.policy, tuple(tuple(spec.case_shape(t)) for t in spec.outputs),
                   spec.steps if spec.stateful else 0)

    def to_dict(self) -> dict:
        doc = {"outputs": list(self.outputs), "decided_output": self.decided_output, "decision": self.decision,
               "threshold": self.threshold, "policy": self.policy}
        if self.shapes:
            doc["output_shapes"] = {name: list(shape) for name, shape in zip(self.outputs, self.shapes, strict=True)}
        if self.steps:
            doc["steps"] = self.steps
        return doc

    @classmethod
    def from_dict(cls, doc: object, where: str) -> Reading:
        r = _Fields(doc, where, {"outputs", "decided_output", "decision", "threshold", "policy", "output_shapes",
                                 "steps"}, optional=frozenset({"output_shapes", "steps"}))
        outputs = r.get("outputs", list)
        if not outputs or not all(isinstance(o, str) for o in outputs) or len(set(outputs)) != len(outputs):
            raise ResultsError(f"{where}: outputs must be a non-empty list of distinct names")
        policy = r.doc["policy"]
        if policy is not None and not isinstance(policy, str):
            raise ResultsError(f"{where}: policy must be a name or null")
        shapes: tuple = ()
        if "output_shapes" in r.doc:
            declared = r.get("output_shapes", dict)
            if set(declared) != set(outputs):
                raise ResultsError(f"{where}: output_shapes must name exactly the outputs {outputs}")
            for name in outputs:
                shape = declared[name]
                if (not isinstance(shape, list) or len(shape) >= MAX_DIMS
                        or not all(type(d) is int and d >= 0 for d in shape)):
                    raise ResultsError(f"{where}: output_shapes[{name!r}] must be a list of at most {MAX_DIMS - 1} "
                                       f"non-negative integers, got {_short(shape)}")
            shapes = tuple(tuple(declared[name]) for name in outputs)
        steps = r.get("steps", int) if "steps" in r.doc else 0
        if not 0 <= steps <= MAX_STEPS or (steps and any(not shape or shape[0] != steps for shape in shapes)):
            raise ResultsError(f"{where}: steps must be 0 (stateless) or 1 to {MAX_STEPS}, the first dimension of "
                               f"every output shape, got {_short(steps)}")
        reading = cls(tuple(outputs), r.get("decided_output", str), r.get("decision", str),
                      float(r.get("threshold", float)), policy, shapes, steps)
        if reading.decided_output not in reading.outputs:
            raise ResultsError(f"{where}: decided output {reading.decided_output!r} is not among {outputs}")
        return reading


@dataclass(frozen=True)
class CaseFile:
    """A run's inputs, what made each case, and how the outputs are read."""

    model: str
    weights_sha256: str
    weights_source: str
    trained: bool
    reading: Reading
    cases: Cases
    #: precision -> sha256 of the weights of the export's CoreML model at that precision
    #: (`harness.mlpackage.weights_sha256`): what a CoreML run must have loaded.
    coreml_weights: dict[str, str] = field(default_factory=dict)
    #: `delegate@precision` (`xnnpack@int8`) -> sha256 of the export's ExecuTorch program file: what an
    #: ExecuTorch run (here, or an app's recording) must have loaded.
    executorch_programs: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> Inputs:
        return Inputs(self.cases.seed, len(self.cases), feeds_sha256(self.cases.feeds))

    def results_limit(self) -> int:
        """The most bytes a results file over these cases can need: every output of every case in
        float64 and base64, and room for the rest. The default cap when the shapes are not recorded."""
        if not self.reading.shapes:
            return MAX_DOCUMENT_BYTES
        values = len(self.cases) * (1 + sum(math.prod(shape) for shape in self.reading.shapes))  # 1: activations
        return RESULTS_SLACK_BYTES + 4 * -(-values * 8 // 3)

    def to_dict(self) -> dict:
        c = self.cases
        raw = [encode_array(r) for r in c.raw] if _raw_savable(c.raw) else []
        model = {"name": self.model, "weights_sha256": self.weights_sha256, "weights_source": self.weights_source,
                 "trained": self.trained}
        if self.coreml_weights:
            model["coreml_weights_sha256"] = dict(self.coreml_weights)
        if self.executorch_programs:
            model["executorch_programs_sha256"] = dict(self.executorch_programs)
        return {
            "format": CASES_FORMAT, "version": VERSION,
            "model": model,
            "reading": self.reading.to_dict(),
            "inputs": self.inputs.to_dict(),
            "feeds": {name: encode_array(a) for name, a in c.feeds.items()},
            "decision_mask": None if c.decision_mask is None else encode_array(c.decision_mask),
            "kinds": list(c.kinds),
            "raw": raw,
        }

    def write(self, path: str | Path) -> Path:
        return write_document(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> CaseFile:
        where = str(path)
        doc = read_document(path, CASES_FORMAT)
        _Fields(doc, where, {"format", "version", "model", "reading", "inputs", "feeds", "decision_mask", "kinds",
                             "raw"})
        model = _Fields(doc["model"], f"{where}: model", {"name", "weights_sha256", "weights_source", "trained",
                                                          "coreml_weights_sha256", "executorch_programs_sha256"},
                        optional=frozenset({"coreml_weights_sha256", "executorch_programs_sha256"}))
        coreml = _Fields(model.doc.get("coreml_weights_sha256", {}), f"{where}: model.coreml_weights_sha256",
                         {"fp32", "fp16"}, optional=frozenset({"fp32", "fp16"}))
        coreml_weights = {precision: coreml.sha256(precision) for precision in sorted(coreml.doc)}
        programs = _Fields(model.doc.get("executorch_programs_sha256", {}),
                           f"{where}: model.executorch_programs_sha256", set(EXECUTORCH_PROGRAMS),
                           optional=frozenset(EXECUTORCH_PROGRAMS))
        executorch_programs = {key: programs.sha256(key) for key in sorted(programs.doc)}
        reading = Reading.from_dict(doc["reading"], f"{where}: reading")
        inputs = Inputs.from_dict(doc["inputs"], f"{where}: inputs")
        feeds = {name: decode_array(v, f"{where}: feed {name!r}").astype(np.float32)
                 for name, v in _object(doc["feeds"], f"{where}: feeds").items()}
        if not feeds or any(a.ndim == 0 or len(a) != inputs.count for a in feeds.values()):
            raise ResultsError(f"{where}: feeds must hold {inputs.count} cases for every input")
        if feeds_sha256(feeds) != inputs.sha256:
            raise ResultsError(f"{where}: the feeds do not hash to the recorded sha256 (the file was edited)")
        mask = None if doc["decision_mask"] is None else decode_array(doc["decision_mask"], f"{where}: decision_mask")
        if mask is not None and (mask.dtype != np.bool_ or len(mask) != inputs.count):
            raise ResultsError(f"{where}: decision_mask must be bool with one row per case")
        kinds = doc["kinds"]
        if not isinstance(kinds, list) or len(kinds) != inputs.count or not all(isinstance(k, str) for k in kinds):
            raise ResultsError(f"{where}: kinds must be one string per case ({inputs.count})")
        if not isinstance(doc["raw"], list) or len(doc["raw"]) not in (0, inputs.count):
            raise ResultsError(f"{where}: raw must be empty or one array per case")
        raw = tuple(decode_array(v, f"{where}: raw[{k}]") for k, v in enumerate(doc["raw"]))
        cases = Cases(feeds=feeds, decision_mask=mask, kinds=tuple(kinds), raw=raw, seed=inputs.seed)
        return cls(model=model.get("name", str), weights_sha256=model.sha256("weights_sha256"),
                   weights_source=model.get("weights_source", str), trained=model.get("trained", bool),
                   reading=reading, cases=cases, coreml_weights=coreml_weights,
                   executorch_programs=executorch_programs)


def _raw_savable(raw: tuple) -> bool:
    """Raw inputs are saved when each is a numeric array (e.g. a series' [n, 2] points)."""
    return bool(raw) and all(isinstance(r, np.ndarray) and r.dtype.kind in "fiu" for r in raw)


# -- the run index ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunIndex:
    """One run's files: the cases, each backend's results in order (first: the reference), artifact checks."""

    results: tuple[str, ...]  # file names in the run's folder
    artifact_checks: tuple[dict, ...] = ()  # ArtifactCheck.to_dict()

    def to_dict(self) -> dict:
        return {"format": RUN_FORMAT, "version": VERSION, "cases": CASES_FILE, "results": list(self.results),
                "artifact_checks": list(self.artifact_checks)}

    def write(self, folder: str | Path) -> Path:
        return write_document(Path(folder) / RUN_FILE, self.to_dict())

    @classmethod
    def read(cls, folder: str | Path) -> RunIndex:
        path = Path(folder) / RUN_FILE
        where = str(path)
        doc = read_document(path, RUN_FORMAT, MAX_RUN_INDEX_BYTES)
        f = _Fields(doc, where, {"format", "version", "cases", "results", "artifact_checks"})
        files = f.get("results", list)
        if not files or not all(isinstance(n, str) and re.match(r"^[A-Za-z0-9._-]+\.json$", n) for n in files):
            raise ResultsError(f"{where}: results must be a non-empty list of file names in the folder")
        if f.get("cases", str) != CASES_FILE:
            raise ResultsError(f"{where}: cases must be {CASES_FILE!r}")
        checks = f.get("artifact_checks", list)
        if not all(isinstance(c, dict) for c in checks):
            raise ResultsError(f"{where}: artifact_checks must be objects")
        return cls(tuple(files), tuple(checks))


def provenance(extra: Mapping[str, object] | None = None) -> dict:
    """Provenance of a run on this machine: device, OS, tool versions, recorder and time."""
    from harness import __version__
    from harness.export.manifest import tool_versions

    return {**host(), "tools": tool_versions(), "recorder": f"trendsplit-harness {__version__}",
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **(extra or {})}
