"""The judged set of runs: what `compare` returns and every report draws from, saved as JSON.

A `ParityReport` holds each backend's run status, every comparison with the reference under
its policy, the artifact checks, where failing emulated pairs first diverge (`Localizations`,
saved in a file of its own), how close each device's numbers fall to every other backend
(the emulator's measured accuracy, per device) and the data of the report's figures. A
report draws only from these: it reads, it never runs or recomputes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from harness.parity.compare import ABS_EDGES, ULP_EDGES, Comparison, Flip, Spread, pair_name
from harness.parity.tolerances import POLICIES, Policy
from harness.records import ArtifactCheck, Cases, Finding, Localization, PrecisionClass
from harness.results import STATUSES, VERSION, Inputs, ResultsError, read_document, write_document

COMPARISON_FORMAT = "trendsplit-harness/comparison"
LOCALIZATION_FORMAT = "trendsplit-harness/localization"
#: The series drawn in a report, and the near-threshold rows listed when nothing flipped.
SERIES_SHOWN = 6
NEAR_LISTED = 10


@dataclass(frozen=True)
class BackendRun:
    label: str
    precision: str
    status: str  # "ran" | "unavailable" | "failed" | "nondeterministic" (gave other outputs for the same inputs)
    reason: str = ""
    seconds: float = 0.0
    where: str = ""  # "device, OS" it ran on, from the results' provenance

    def to_dict(self) -> dict:
        return {"backend": self.label, "precision": self.precision, "status": self.status,
                "reason": self.reason, "seconds": round(self.seconds, 4), "where": self.where}

    @classmethod
    def from_dict(cls, d: dict) -> BackendRun:
        run = cls(**_typed(cls, {"label": d["backend"], **{k: d[k] for k in ("precision", "status", "reason",
                                                                              "seconds", "where")}}))
        if run.status not in STATUSES:
            raise ValueError(f"status is {run.status!r:.40}, not one of {', '.join(STATUSES)}")
        return run


@dataclass(frozen=True)
class Distance:
    """A device's numbers against one other backend's, on the same inputs."""

    backend: str
    policy: str
    mean_abs: float
    max_abs: float
    decisions_agreeing: int
    decisions_compared: int
    verdict: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeviceMatch:
    """Which emulation profile a device's numbers fall closest to (smallest mean absolute difference)."""

    device: str  # the device run's label
    where: str  # its device model and OS
    distances: tuple[Distance, ...]
    closest: str  # the nearest coreml-emulated label; "" when no emulated run is there to compare

    def to_dict(self) -> dict:
        return {"device": self.device, "where": self.where, "closest": self.closest,
                "distances": [d.to_dict() for d in self.distances]}

    @classmethod
    def from_dict(cls, d: dict) -> DeviceMatch:
        return cls(**_typed(cls, d), distances=tuple(Distance(**_typed(Distance, x)) for x in d["distances"]))


@dataclass(frozen=True)
class Localizations:
    """The localisation step's saved result: per failing emulated pair, where it first diverges; and,
    when asked for, an overview of the fp16 program op by op (for the report's per-op section)."""

    pairs: dict[str, Localization] = field(default_factory=dict)
    overview: Localization | None = None

    def to_dict(self) -> dict:
        return {"format": LOCALIZATION_FORMAT, "version": VERSION,
                "pairs": {p: loc.to_dict() for p, loc in self.pairs.items()},
                "overview": self.overview.to_dict() if self.overview else None}

    def write(self, path: str | Path) -> Path:
        return write_document(path, self.to_dict())

    @property
    def sha256(self) -> str:
        """What the comparison written with these records of them: a killed rewrite leaves another run's beside it."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def read(cls, path: str | Path) -> Localizations:
        doc = read_document(path, LOCALIZATION_FORMAT)
        try:
            return cls({str(p): Localization.from_dict(d) for p, d in doc["pairs"].items()},
                       Localization.from_dict(doc["overview"]) if doc["overview"] else None)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
            raise ResultsError(f"{path} is not a localization file this harness wrote "
                               f"({type(err).__name__}: {err})") from None


@dataclass(frozen=True)
class ParityReport:
    model: str
    weights_source: str
    trained: bool
    inputs: Inputs
    kinds: Mapping[int, str]  # what made each case the report names (flips, worst cases), for reading them
    reference: str
    threshold: float  # the model's decision threshold, for reading flips
    runs: tuple[BackendRun, ...]
    comparisons: tuple[Comparison, ...]
    artifact_checks: tuple[ArtifactCheck, ...] = ()
    localizations: Localizations = field(default_factory=Localizations)
    devices: tuple[DeviceMatch, ...] = ()
    figures: dict = field(default_factory=dict)  # what the HTML report draws (see `figures`)
    case_kinds: Mapping[str, int] = field(default_factory=dict)  # how many cases each generator made
    #: Precision or bug, per classified pair: set against float64 and its precision's Monte Carlo spread.
    precision: tuple[PrecisionClass, ...] = ()
    #: A stateful model's calls per case: each case a sequence of calls from the initial state, each call judged
    #: on its own (`Comparison.call`); 0 for a stateless model.
    steps: int = 0

    def __post_init__(self) -> None:
        """Each comparison carries its pair's class (when it has one), so that every face that reads a pair's
        verdict reads the one the class and the policy give together (`Comparison.numbers_by`)."""
        classes = {p.pair: p for p in self.precision}
        object.__setattr__(self, "comparisons", tuple(
            replace(c, expectation=classes.get(c.pair)) if classes.get(c.pair) is not c.expectation else c
            for c in self.comparisons))

    def __bool__(self) -> bool:
        return self.status == "PASSED"

    @property
    def by_call(self) -> dict[str, list[Comparison]]:
        """A stateful model's comparisons per candidate and output (`candidate [output]`), in call order."""
        out: dict[str, list[Comparison]] = {}
        for c in self.comparisons:
            if c.call:
                out.setdefault(pair_name(c.candidate, c.reference, c.output), []).append(c)
        return {k: sorted(v, key=lambda c: c.call) for k, v in out.items()}

    @property
    def first_failing_calls(self) -> dict[str, int]:
        """Per pair of a stateful model that fails, the first call of the sequence where it fails: where a state
        update parts from the reference's."""
        return {pair: next(c.call for c in calls if c.verdict == "fail")
                for pair, calls in self.by_call.items() if any(c.verdict == "fail" for c in calls)}

    @property
    def status(self) -> str:
        """The verdict, decided here once for every face (text, JSON, HTML, exit code, plugin):
        "FAILED" when anything failed (a reference that disagreed with itself included: nothing was
        judged against it), "INCONCLUSIVE" when nothing failed but nothing was judged (no pair compared,
        or every pair vacuous) or some pair proved nothing, else "PASSED"."""
        failed = (any(r.status in ("failed", "nondeterministic") for r in self.runs) or not all(self.artifact_checks)
                  or any(c.verdict == "fail" for c in self.comparisons))
        if failed:
            return "FAILED"
        return "INCONCLUSIVE" if self.unjudged else "PASSED"

    @property
    def unjudged(self) -> str:
        """Why this report is no pass although nothing failed, or "" when every pair held."""
        if not self.comparisons:
            missing = [f"{r.label} {r.status}: {r.reason}" for r in self.runs if r.status != "ran"]
            ran = [r.label for r in self.runs if r.status == "ran"]
            if missing:
                return "no pair was judged: " + "; ".join(missing)
            return f"no pair was judged: only {', '.join(ran) or 'nothing'} ran, with nothing to compare it with"
        vacuous = [c.pair for c in self.comparisons if c.verdict == "inconclusive"]
        if vacuous:
            return f"{len(vacuous)} of {len(self.comparisons)} pairs proved nothing: {', '.join(vacuous)}"
        return ""

    @property
    def target(self) -> str:
        """The deployment target(s) of the CoreML programs checked, as their opsets name them ("" when none was)."""
        return ",".join(dict.fromkeys(a.target for a in self.artifact_checks if a.target))

    @property
    def not_run(self) -> list[BackendRun]:
        """Backends asked for that did not run (unavailable here): judged by nobody, named in every verdict."""
        return [r for r in self.runs if r.status == "unavailable"]

    @property
    def headline(self) -> str:
        """The verdict in one line, as every face shows it: what it rests on and what was not judged."""
        status = self.status
        judged = sum(c.verdict != "inconclusive" for c in self.comparisons)
        if status == "PASSED":
            expected = sum(c.numbers_by == "float64" for c in self.comparisons)
            text = f"PASSED: {judged} of {len(self.comparisons)} pairs judged, every one within its policy" + (
                f" (the numbers of {expected} set against float64: within their precision)" if expected else "")
        elif status == "FAILED":
            failing = [c.pair for c in self.comparisons if c.verdict == "fail"]
            stopped = [r.label for r in self.runs if r.status == "failed"]
            broken = [a.artifact for a in self.artifact_checks if not a]
            unstable = [f"{r.label} is not deterministic: {r.reason}" for r in self.runs
                        if r.status == "nondeterministic"]
            parts = unstable \
                + ([f"{len(failing)} of {len(self.comparisons)} pairs failed"] if failing else []) \
                + ([f"{', '.join(stopped)} stopped with an error"] if stopped else []) \
                + ([f"artifact check failed: {', '.join(broken)}"] if broken else [])
            text = "FAILED: " + "; ".join(parts)
        else:
            text = f"INCONCLUSIVE (not a pass): {self.unjudged}"
        if self.not_run and self.comparisons:
            text += "; not run here: " + ", ".join(r.label for r in self.not_run)
        if self.first_failing_calls:
            text += "; " + ", ".join(f"{pair} first fails at call {call} of {self.steps}"
                                     for pair, call in self.first_failing_calls.items())
        return text

    @property
    def diagnoses(self) -> dict[str, dict]:
        """Failing emulated pair -> where it first diverges: cases run, first op, overflow, one-line summary."""
        return {pair: {"cases": list(loc.cases), "first": loc.first.to_dict() if loc.first else None,
                       "overflow": bool(loc.first and loc.first.overflow), "summary": loc.summary()}
                for pair, loc in self.localizations.pairs.items()}

    def to_dict(self) -> dict:
        worst = self.figures.get("worst_cases", {})
        return {
            "format": COMPARISON_FORMAT, "version": VERSION,
            "passed": bool(self), "status": self.status, "headline": self.headline, "unjudged": self.unjudged,
            "model": self.model, "weights_source": self.weights_source,
            "trained": self.trained, "target": self.target, "seed": self.inputs.seed, "n": self.inputs.count,
            "inputs": self.inputs.to_dict(), "threshold": self.threshold,
            "case_kinds": dict(self.case_kinds), "kinds": {str(k): v for k, v in sorted(self.kinds.items())},
            "reference": self.reference,
            "backends": [r.to_dict() for r in self.runs],
            "comparisons": [{**c.to_dict(), "worst_case": worst.get(c.pair)} for c in self.comparisons],
            "artifact_checks": [a.to_dict() for a in self.artifact_checks],
            "diagnoses": self.diagnoses,
            "devices": [d.to_dict() for d in self.devices],
            "precision": [p.to_dict() for p in self.precision],
            "steps": self.steps, "first_failing_calls": self.first_failing_calls,
            "figures": {k: v for k, v in self.figures.items() if k != "worst_cases"},
        }

    def write(self, path: str | Path) -> Path:
        """This report as JSON at `path`, and its localisations beside it (`<stem>.localization.json`)."""
        path = Path(path)
        doc = self.to_dict()
        doc["localization"] = None
        if self.localizations.pairs or self.localizations.overview:
            loc = self.localizations.write(path.with_name(path.stem + ".localization.json"))
            doc["localization"], doc["localization_sha256"] = loc.name, self.localizations.sha256
        return write_document(path, doc)

    write_json = write

    @classmethod
    def read(cls, path: str | Path) -> ParityReport:
        """A report `write` saved (and its localisations); `ResultsError` naming the file when it is not one."""
        path = Path(path)
        doc = read_document(path, COMPARISON_FORMAT)
        try:
            localizations = Localizations()
            if doc["localization"] is not None:
                name = Path(_field(doc["localization"], "str", "localization")).name  # beside the report only
                try:
                    localizations = Localizations.read(path.with_name(name))
                except ResultsError as err:
                    raise ResultsError(f"{path}: its localization {name!r}: {err}") from None
                if doc.get("localization_sha256", localizations.sha256) != localizations.sha256:
                    raise ResultsError(f"{path}: the localization {name!r} beside it is not the one written with it "
                                       "(another run's, left by a rewrite that was stopped, or edited)")
            return cls(
                model=_field(doc["model"], "str", "model"),
                weights_source=_field(doc["weights_source"], "str", "weights_source"),
                trained=_field(doc["trained"], "bool", "trained"),
                inputs=Inputs.from_dict(doc["inputs"], f"{path}: inputs"),
                kinds={int(k): _field(v, "str", "kinds") for k, v in doc["kinds"].items()},
                case_kinds={_field(k, "str", "case_kinds"): _field(v, "int", "case_kinds")
                            for k, v in doc["case_kinds"].items()},
                reference=_field(doc["reference"], "str", "reference"),
                threshold=_field(doc["threshold"], "float", "threshold"),
                runs=tuple(BackendRun.from_dict(r) for r in doc["backends"]),
                comparisons=tuple(_comparison(c) for c in doc["comparisons"]),
                artifact_checks=tuple(artifact_check(a) for a in doc["artifact_checks"]),
                localizations=localizations,
                devices=tuple(DeviceMatch.from_dict(d) for d in doc["devices"]),
                precision=tuple(PrecisionClass.from_dict(d) for d in doc.get("precision", [])),
                steps=_field(doc.get("steps", 0), "int", "steps"),
                figures={**_figures(doc["figures"]),
                         "worst_cases": {_pair(c): c["worst_case"] for c in doc["comparisons"]
                                         if c["worst_case"] is not None}})
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
            raise ResultsError(f"{path} is not a comparison file this harness wrote "
                               f"({type(err).__name__}: {err})") from None


def _pair(c: dict) -> str:
    return pair_name(c["candidate"], c["reference"], c["output"], c.get("call", 0))


#: The plain field types a saved record may hold, by their annotation: a file is data from anywhere,
#: and a number that is really markup must be refused here, not formatted (or not) by each report.
_PLAIN = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
#: Whole numbers in a saved record count or index things: none is negative or past int64.
_WHOLE = range(0, 2**63)


def _field(value, kind: str, name: str):
    """`value` as field `name` of annotation `kind` holds it, or TypeError naming it."""
    kinds = _PLAIN[kind]
    if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
        raise TypeError(f"{name} is {type(value).__name__} {value!r:.40}, not {kind}")
    if kind == "int" and value not in _WHOLE:
        raise TypeError(f"{name} is {value!r:.40}, not a count (0 to 2^63)")
    if kind == "float":
        try:
            return float(value)
        except OverflowError:
            raise TypeError(f"{name} is {value!r:.40}, past any float") from None
    return value


def _typed(cls, d: dict, skip: frozenset = frozenset()) -> dict:
    """`d`'s plain fields of dataclass `cls`, each checked against its annotation (TypeError naming it)."""
    return {f.name: _field(d[f.name], f.type, f.name) for f in fields(cls) if f.name not in skip and f.type in _PLAIN}


def _comparison(d: dict) -> Comparison:
    """A comparison from its saved figures (per-element errors are not saved: the figures hold their histograms),
    refused (ValueError naming it) when it was judged by a policy the harness does not have or when its
    figures contradict each other: the verdict is worked out again from them, so they must be the
    figures a comparison gives."""
    special = frozenset({"policy", "flips", "near_flips", "worst", "abs_histogram", "ulp_histogram", "spread",
                         "violating_cases", "violation_cases", "call"})
    plain = _typed(Comparison, d, special)
    worst = tuple(_field(i, "int", "worst") for i in d["worst"])
    # written before the cases outside the allowance were listed: as many as the elements, none named, so
    # no class set against float64 can judge them
    violating = _field(d.get("violating_cases", plain["numeric_violations"]), "int", "violating_cases")
    listed = tuple(_field(i, "int", "violation_cases") for i in d.get("violation_cases", []))
    policy = Policy(**_typed(Policy, d["policy"]))
    own = POLICIES.get(policy.name)
    if own is None or replace(policy, reason=own.reason) != own:  # its words may be reworded
        raise ValueError(f"policy {policy.name!r:.40} is not the harness's policy of that name (its figures "
                         "judge the verdict)")
    c = Comparison(**plain, policy=policy, worst=worst, violating_cases=violating, violation_cases=listed,
                   call=_field(d.get("call", 0), "int", "call"),
                   spread=Spread.from_dict(d["spread"]) if d["spread"] is not None else None,
                   flips=tuple(Flip(**_typed(Flip, f)) for f in d["flips"]),
                   near_flips=tuple(Flip(**_typed(Flip, f)) for f in d["near_flips"]),
                   abs_histogram=np.zeros(0, np.int64), ulp_histogram=np.zeros(0, np.int64))
    _consistent(c)
    return c


def _consistent(c: Comparison) -> None:
    """ValueError naming the first pair of figures that no comparison gives together."""
    contradictions = (
        (c.non_finite + c.reference_non_finite > 2 * c.elements, "more non-finite values than elements"),
        (c.numeric_violations > c.elements, "more numeric violations than elements"),
        ((c.violating_cases > 0) != (c.numeric_violations > 0) or c.violating_cases > c.numeric_violations
         or len(c.violation_cases) > c.violating_cases or len(set(c.violation_cases)) < len(c.violation_cases),
         "cases outside the allowance that do not match the numeric violations"),
        (c.decisions_agreeing > c.decisions_compared, "more decisions agreeing than compared"),
        (c.near_threshold_flips > c.near_threshold, "more near-threshold flips than near-threshold decisions"),
        (len(c.flips) > c.decisions_compared - c.decisions_agreeing, "more flips listed than decisions flipped"),
        (len(c.near_flips) > c.near_threshold_flips, "more near-threshold flips listed than counted"),
        (c.numeric_violations == 0 and c.finite and not c.max_abs <= c.max_allowance,
         "no numeric violation, but max_abs beyond the largest allowance"),
        (c.non_finite > 0 and c.max_abs != float("inf"), "non-finite outputs, but a finite max_abs"),
        (c.spread is not None and c.spread.cases < 1 and c.elements > 0, "a spread over no cases"),
    )
    said = next((what for wrong, what in contradictions if wrong), None)
    if said:
        raise ValueError(f"{c.pair}: {said}: the figures were edited")


def _figures(d: object) -> dict:
    """The saved figures, each field of the type and shape the report draws from (TypeError or ValueError
    naming it): drawn from a file edited anywhere, a wrong one stopped the report with a traceback."""
    def of(value, kind, where: str):
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"figures.{where} is {type(value).__name__} {value!r:.40}")
        return value

    def counts(value, where: str, below: int = 2**63) -> list[int]:
        out = [_field(v, "int", f"figures.{where}") for v in of(value, list, where)]
        if any(v >= below for v in out):
            raise ValueError(f"figures.{where} holds an index past the {below} points drawn")
        return out

    def numbers(value, where: str) -> list[float]:
        return [_field(v, "float", f"figures.{where}") for v in of(value, list, where)]

    of(d, dict, "")
    series = of(d.get("series", {"drawable": False, "why": ""}), dict, "series")
    if not of(series["drawable"], bool, "series.drawable"):
        of(series["why"], str, "series.why")
    else:
        candidates = [of(c, str, "series.candidates") for c in of(series["candidates"], list, "series.candidates")]
        counts([series["confident"], series["near_only"], series["n"]], "series counts")
        for case in of(series["cases"], list, "series.cases"):
            of(case, dict, "series.cases")
            counts([case["case"]], "series.cases.case")
            of(case["kind"], str, "series.cases.kind")
            of(case["confident"], bool, "series.cases.confident")
            points = of(case["points"], list, "series.cases.points")
            if not points or not all(isinstance(p, list) and len(p) == 2 for p in points):
                raise ValueError("figures.series.cases.points is not a list of (x, y) points")
            numbers([v for p in points for v in p], "series.cases.points")
            counts(case["splits"], "series.cases.splits", below=len(points))
            for k in ("extra", "missed"):
                for c in candidates:
                    counts(of(case[k], dict, f"series.cases.{k}")[c], f"series.cases.{k}", below=len(points))
    for row in of(d.get("near_agreed", []), list, "near_agreed"):
        counts([of(row, dict, "near_agreed")["case"], row["position"]], "near_agreed")
        of(row["kind"], str, "near_agreed.kind")
        numbers([row["reference"]], "near_agreed.reference")
    for pair, h in of(d.get("histograms", {}), dict, "histograms").items():
        for key in ("abs", "ulp"):
            where = f"histograms[{pair!r:.40}].{key}"
            drawn = of(of(h, dict, where)[key], dict, where)
            edges, counted = numbers(drawn["edges"], f"{where}.edges"), counts(drawn["counts"], f"{where}.counts")
            if len(edges) != len(counted) + 1 or not all(0 < a < b for a, b in zip(edges, edges[1:], strict=False)):
                raise ValueError(f"figures.{where}: edges must be one more than counts, positive and increasing")
    return d


def artifact_check(d: dict) -> ArtifactCheck:
    """An artifact check from its `to_dict`, each field typed (an `ok` of "false" is not false), and with
    findings: a check of no rules judged nothing, and would pass."""
    findings = tuple(Finding(**_typed(Finding, f)) for f in d["findings"])
    if not findings:
        raise ValueError(f"artifact check {d['artifact']!r:.40} has no findings: it judged nothing")
    dtypes = {_field(k, "str", "compute_dtypes"): _field(v, "int", "compute_dtypes")
              for k, v in d["compute_dtypes"].items()}
    target = _field(d.get("target", ""), "str", "target")  # absent from files written before targets were chosen
    return ArtifactCheck(**_typed(ArtifactCheck, d, skip=frozenset({"target"})), findings=findings,
                         compute_dtypes=dtypes, target=target)


# -- the figures' data, computed once as the cases are judged ------------------------------------

def figures(cases: Cases, threshold: float, decision: str, reference: str,
            comparisons: Sequence[Comparison], decided: Mapping[str, np.ndarray]) -> dict:
    """What the HTML report draws, for one batch of cases: the worst case of each pair, the
    series to chart (cases with a confident decision reversed first) and near-threshold rows.
    `merge_figures` joins batches; `finish_figures` adds the histograms."""
    return {"worst_cases": {c.pair: _worst_case(cases, c) for c in comparisons},
            "series": _series(cases, threshold, decision, reference, comparisons, decided),
            "near_agreed": _near_agreed(cases, threshold, decision, reference, comparisons, decided)}


def merge_figures(a: dict, b: dict, later: Mapping[str, bool], offset: int) -> dict:
    """Two batches' figures as one, `b`'s cases numbered from `offset`; `later[pair]`: the pair's
    worst case is in `b`."""
    def on(row: dict) -> dict:
        return {**row, "case": row["case"] + offset}

    series = b["series"]
    if series.get("drawable"):
        series = {**series, "cases": [on(s) for s in series["cases"]]}
    return {"worst_cases": {p: on(b["worst_cases"][p]) if later.get(p) else w for p, w in a["worst_cases"].items()},
            "series": _merge_series(a["series"], series),
            "near_agreed": (a["near_agreed"] + [on(r) for r in b["near_agreed"]])[:NEAR_LISTED]}


def finish_figures(partial: dict, comparisons: Sequence[Comparison]) -> dict:
    """The figures of every chunk, with the error histograms; near-threshold rows only when nothing flipped."""
    flipped = any(c.flips or c.near_flips for c in comparisons)
    return {**partial, "histograms": {c.pair: _histograms(c) for c in comparisons},
            "near_agreed": [] if flipped else partial["near_agreed"]}


def _histograms(c: Comparison) -> dict:
    """The pair's fixed-edge counts, cut to the bins in use (absolute error drawn up to at least 1)."""
    def cut(counts, edges, low: float) -> dict:
        counts = np.asarray(counts)
        used = np.flatnonzero(counts)
        last = max(int(used[-1]) + 1 if used.size else 1, int(np.searchsorted(edges, low)))
        return {"edges": edges[:last + 1].tolist(), "counts": counts[:last].tolist()}

    return {"abs": cut(c.abs_histogram, ABS_EDGES, 1.0), "ulp": cut(c.ulp_histogram, ULP_EDGES, 3.0)}


def _worst_case(cases: Cases, c: Comparison) -> dict:
    k = c.worst[0] if c.worst else 0
    raw = cases.raw[k] if cases.raw else {n: v[k] for n, v in cases.feeds.items()}
    raw = {n: np.asarray(v).tolist() for n, v in raw.items()} if isinstance(raw, dict) else np.asarray(raw).tolist()
    return {"case": k, "kind": cases.kinds[k], "points": raw}


def _decisions(cases: Cases, threshold: float, decided: Mapping[str, np.ndarray]):
    mask = cases.decision_mask
    return {lab: (np.asarray(o) > threshold) & mask for lab, o in decided.items() if np.shape(o) == mask.shape}


def _pick(shown: Sequence[dict]) -> list[dict]:
    """The series drawn: cases with a confident flip, then one with only a near-threshold flip, then realistic ones."""
    confident = [s for s in shown if s["confident"]][: SERIES_SHOWN // 2]
    near = [s for s in shown if not s["confident"] and s["flipped"]][:1]
    realistic = [s for s in shown if not s["flipped"]]
    return (confident + near + realistic)[:SERIES_SHOWN]


def _merge_series(a: dict, b: dict) -> dict:
    if not a["drawable"] or not b["drawable"]:
        return a if not a["drawable"] else b
    return {**a, "cases": _pick(a["cases"] + b["cases"]), "confident": a["confident"] + b["confident"],
            "near_only": a["near_only"] + b["near_only"], "n": a["n"] + b["n"]}


def _series(cases: Cases, threshold: float, decision: str, reference: str, comparisons: Sequence[Comparison],
            decided: Mapping[str, np.ndarray]) -> dict:
    drawable = (decision == "threshold" and cases.decision_mask is not None and bool(cases.raw)
                and all(np.ndim(r) == 2 and np.shape(r)[1] == 2 for r in cases.raw))
    if not drawable:
        return {"drawable": False, "why": "This model's inputs are not (x, y) series, so there is no chart to draw."}
    if reference not in decided:
        return {"drawable": False, "why": "The reference did not run."}
    decisions = _decisions(cases, threshold, decided)
    ref = np.asarray(decided[reference])
    base = decisions[reference]
    margin = {c.candidate: c.policy.decision_margin for c in comparisons}
    candidates = [lab for lab in decisions if lab != reference and lab in margin]
    judged = {lab: (decisions[lab] != base) & (np.abs(ref - threshold) > margin[lab]) for lab in candidates}
    n = len(cases)
    confident = [k for k in range(n) if any(j[k].any() for j in judged.values())]
    any_flip = [k for k in range(n) if k not in confident
                and any((decisions[lab][k] != base[k]).any() for lab in candidates)]
    realistic = [k for k in range(n) if cases.kinds[k] == "realistic" and k not in confident and k not in any_flip]
    shown = []
    for k in confident[: SERIES_SHOWN // 2] + any_flip[:1] + realistic[:SERIES_SHOWN]:
        shown.append({
            "case": k, "kind": cases.kinds[k], "confident": k in confident, "flipped": k not in realistic,
            "points": np.asarray(cases.raw[k], dtype=np.float64).tolist(),
            "splits": np.flatnonzero(base[k]).tolist(),
            "extra": {lab: np.flatnonzero(decisions[lab][k] & ~base[k]).tolist() for lab in candidates},
            "missed": {lab: np.flatnonzero(~decisions[lab][k] & base[k]).tolist() for lab in candidates}})
    return {"drawable": True, "candidates": candidates, "cases": _pick(shown), "confident": len(confident),
            "near_only": len(any_flip), "n": n}


def _near_agreed(cases: Cases, threshold: float, decision: str, reference: str,
                 comparisons: Sequence[Comparison], decided: Mapping[str, np.ndarray]) -> list[dict]:
    """Decisions within the margin (listed when nothing flipped: `finish_figures` decides)."""
    ref = decided.get(reference)
    if decision != "threshold" or ref is None or cases.decision_mask is None or np.ndim(ref) != 2 or not comparisons:
        return []
    margin = max(c.policy.decision_margin for c in comparisons)
    close = np.argwhere(cases.decision_mask & (np.abs(ref - threshold) <= margin))[:NEAR_LISTED]
    return [{"case": int(k), "kind": cases.kinds[k], "position": int(i), "reference": float(ref[k, i])}
            for k, i in close]
