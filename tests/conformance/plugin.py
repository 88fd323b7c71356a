"""pytest plugin for coremltools' own test files, run in place: `pytest -p tests.conformance.plugin <paths>`.

It sets the environment Apple's `testing_reqs` reads at import (ML programs only, fp16 and
fp32), swaps the prediction helpers for `helpers.py`'s wherever a module bound them (and
`MLModel.predict`/`make_state`, which some tests call themselves: off macOS they raise), and
records one outcome per case (`--conformance-json`). `--conformance-precision`,
`--conformance-every` and `--conformance-per-class` pick a deterministic subset after collection.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import pytest

import harness.mil
from tests.conformance import helpers, predict
from tests.conformance.predict import UnsupportedCase

#: What Apple's testing_reqs reads when first imported: ML programs only, fp16 and fp32 precisions.
ENVIRONMENT = {"PYMIL_TEST_TARGETS": "mlprogram", "INCLUDE_MIL_FP32_UNIT_TESTS": "1"}

#: Apple's helper (module, name) -> our replacement.
REPLACED = {
    ("coremltools.converters.mil.testing_utils", "compare_backend"): helpers.compare_backend,
    ("coremltools.converters.mil.testing_utils", "get_core_ml_prediction"): helpers.get_core_ml_prediction,
    ("coremltools.converters.mil.frontend.torch.test.testing_utils", "convert_and_compare"):
        helpers.convert_and_compare,
}

#: Outcomes, in the order tables show them: those that reached a prediction, then those that did not.
PREDICTED = ("passed", "unsupported", "mismatch", "error", "failed after prediction")
NOT_PREDICTED = ("no prediction", "skipped by the test", "failed before prediction")


def _raised_while_predicting(tb) -> bool:
    """Whether a traceback passes through our prediction (helpers, predict, the interpreter)."""
    ours = (helpers.__file__, predict.__file__, str(Path(harness.mil.__file__).parent))
    return any(frame.f_code.co_filename.startswith(ours) for frame, _ in traceback.walk_tb(tb))


@dataclass
class Case:
    nodeid: str
    test_class: str
    precision: str | None
    reached: bool = False
    ops: list[str] = field(default_factory=list)
    outcome: str = "no prediction"
    missing_ops: list[str] = field(default_factory=list)
    max_abs: float | None = None  # a mismatch's largest gap
    fp16_storage: bool = False  # passed only at fp16 storage's allowance (helpers.FP16_STORAGE)
    detail: str = ""
    seconds: float = 0.0


def precision_of(item) -> str | None:
    """'fp16'/'fp32' from the case's `backend` parameter (a BackendConfig, or ('mlprogram', 'fp32'))."""
    backend = getattr(item, "callspec", None) and item.callspec.params.get("backend")
    if backend is None:
        return None
    return backend[1] if isinstance(backend, tuple) else getattr(backend, "precision", None)


def pytest_make_parametrize_id(config, val, argname):
    """Apple's ids (coremltools/converters/mil/conftest.py), also when that conftest is outside the rootdir."""
    return f"{argname}={val}"


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "coremltools' op tests against the MIL interpreter")
    group.addoption("--conformance-json", metavar="PATH", help="write one JSON record per case to PATH")
    group.addoption("--conformance-precision", choices=("fp16", "fp32"),
                    help="keep only cases converted at this precision (and unparametrised ones)")
    group.addoption("--conformance-every", type=int, default=1, metavar="N",
                    help="keep every Nth case of each test class, in collection order (default 1: all)")
    group.addoption("--conformance-per-class", type=int, default=0, metavar="M",
                    help="and at most M cases of each test class (default 0: no limit)")


def pytest_configure(config):
    if "coremltools.converters.mil.testing_reqs" in sys.modules:
        raise pytest.UsageError("coremltools' testing_reqs was imported before the conformance plugin "
                                "could set PYMIL_TEST_TARGETS; run it in a fresh process")
    os.environ.update(ENVIRONMENT)
    config.pluginmanager.register(Recorder(config), "conformance-recorder")


class Recorder:
    def __init__(self, config):
        self.config = config
        self.cases: dict[str, Case] = {}
        self.current: Case | None = None
        self.patched: list[tuple[object, str, object]] = []

    # Selection (after -k/-m have deselected theirs) and patching, once Apple's modules are imported.
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        precision = config.getoption("conformance_precision")
        every = config.getoption("conformance_every")
        cap = config.getoption("conformance_per_class") or len(items)
        kept, dropped, seen = [], [], {}
        for item in items:
            cls = item.cls.__name__ if item.cls else item.path.stem
            p = precision_of(item)
            if precision and p not in (None, precision):
                dropped.append(item)
                continue
            seen[cls] = seen.get(cls, -1) + 1
            keep = seen[cls] % every == 0 and seen[cls] // every < cap
            (kept if keep else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
        for item in items:
            self.cases[item.nodeid] = Case(item.nodeid, item.cls.__name__ if item.cls else item.path.stem,
                                           precision_of(item))
        self._patch()

    def pytest_collection_finish(self, session):
        # Apple's tests end each conversion with a full gc.collect(); with torch and thousands of
        # collected cases in memory that walk was half the run. What exists now lives to the end.
        gc.freeze()

    def _patch(self) -> None:
        from coremltools.models import MLModel

        observe = self._observe

        def mlmodel_predict(model, data, state=None):
            if not isinstance(data, dict):
                raise TypeError("the conformance run predicts one dict of inputs at a time")
            return predict.predict(model, data, state=state, observe=observe)

        for attr, ours in (("predict", mlmodel_predict), ("make_state", predict.make_state)):
            self.patched.append((MLModel, attr, vars(MLModel)[attr]))
            setattr(MLModel, attr, ours)
        originals = {}
        for (module, name), ours in REPLACED.items():
            if module in sys.modules:
                originals[id(getattr(sys.modules[module], name))] = (name, ours)
        for mod in list(sys.modules.values()):
            if not getattr(mod, "__name__", "").startswith("coremltools."):
                continue
            for attr, value in list(vars(mod).items()):
                if id(value) in originals and attr == originals[id(value)][0]:
                    self.patched.append((mod, attr, value))
                    ours = originals[id(value)][1]
                    extra = {"fp16_storage": self._fp16_storage} if ours is helpers.compare_backend else {}
                    setattr(mod, attr, partial(ours, observe=self._observe, **extra))

    def pytest_unconfigure(self, config):
        for mod, attr, value in self.patched:
            setattr(mod, attr, value)

    def _observe(self, ops: set[str]) -> None:
        if self.current is not None:
            self.current.reached = True
            self.current.ops = sorted(set(self.current.ops) | ops)

    def _fp16_storage(self) -> None:
        if self.current is not None:
            self.current.fp16_storage = True

    # Outcomes.
    def pytest_runtest_logstart(self, nodeid, location):
        self.current = self.cases.get(nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        case = self.cases.get(item.nodeid)
        if case is None or (call.when == "teardown" and call.excinfo is None):
            return report
        if call.when == "call":
            case.seconds = call.duration
        if call.excinfo is None:
            if call.when == "call":
                case.outcome = "passed" if case.reached else "no prediction"
            return report
        err = call.excinfo.value
        if isinstance(err, UnsupportedCase):
            case.outcome, case.missing_ops = "unsupported", list(err.op_types)
        elif isinstance(err, helpers.Mismatch):
            case.outcome, case.max_abs = "mismatch", err.max_abs
        elif isinstance(err, pytest.skip.Exception | pytest.xfail.Exception):
            case.outcome = "skipped by the test"
        else:
            case.outcome = ("failed before prediction" if not case.reached else
                            "error" if _raised_while_predicting(call.excinfo.tb) else "failed after prediction")
        case.detail = f"{type(err).__name__}: {err}"[:2000]
        if getattr(report, "wasxfail", None):
            case.detail = f"(Apple marks it xfail: {report.wasxfail}) {case.detail}"
        return report

    def pytest_sessionfinish(self, session):
        path = self.config.getoption("conformance_json")
        if path:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(json.dumps([asdict(c) for c in self.cases.values()], indent=1))
            tmp.replace(path)
