"""The shape of the code: the harness never imports the trendsplit kit, and no module imports
itself back through others (every import counted, inside functions too); the harness's tests run
users' models (tests/user_model/), not the kit's."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "trendsplit")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module(p) for p in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in files:
        here = _module(path)
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                names = [f"{base}.{a.name}" for a in node.names] + [base]
            for name in names:
                target = _resolve(name, modules)
                if target and target != here:
                    graph[here].add(target)
    return graph


def test_the_harness_never_imports_the_kit():
    graph = import_graph()
    leaks = sorted((m, t) for m, targets in graph.items() if m.startswith("harness")
                   for t in targets if t.split(".")[0] != "harness")
    assert not leaks, leaks



#: The harness's public surface: what a project building on it (the trendsplit kit) may import.
PUBLIC = {"harness", "harness.api", "harness.toolkit"}


def _inside_reached(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(kit module, harness module) pairs where the kit reaches past the public surface."""
    return sorted((m, t) for m, targets in graph.items() if m.startswith("trendsplit")
                  for t in targets if t.startswith("harness") and t not in PUBLIC)


def test_the_kit_uses_the_public_api_only():
    reached = _inside_reached(import_graph())
    assert not reached, reached


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = {m: {t for t in ts if t != m.rpartition(".")[0]} for m, ts in import_graph().items()}
    assert _cycles(graph) == []


def test_the_checker_sees_a_cycle_and_a_leak():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "harness.api" in graph["trendsplit.models"] and "harness.spec" in graph["harness.api"]
    planted = {**graph, "trendsplit.models": graph["trendsplit.models"] | {"harness.spec"}}
    assert _inside_reached(planted) == [("trendsplit.models", "harness.spec")]


#: The intended direction (docs/architecture.md): a module under the first prefix never imports one under
#: the second, at any depth of the file (inside functions too). Faces (api, cli, pytest_plugin) sit on top;
#: reports only draw; parity judges without knowing the faces or the cluster that may run it; model lookup
#: never calls the public face.
FORBIDDEN = (
    ("harness.parity", ("harness.report", "harness.api", "harness.cli", "harness.pytest_plugin", "harness.options",
                        "harness.zoo", "harness.models", "harness.cluster")),
    ("harness.cluster", ("harness.report", "harness.api", "harness.cli", "harness.pytest_plugin", "harness.options")),
    ("harness.report", ("harness.parity.steps", "harness.parity.judge", "harness.parity.localize",
                        "harness.backends", "harness.export", "harness.mil", "harness.spec", "harness.api",
                        "harness.cli", "harness.models")),
    ("harness.export", ("harness.parity", "harness.report", "harness.backends", "harness.api", "harness.cli")),
    ("harness.backends", ("harness.parity", "harness.report", "harness.api", "harness.cli")),
    ("harness.mil", ("harness.parity", "harness.report", "harness.backends", "harness.export", "harness.api",
                     "harness.cli")),
    ("harness.models", ("harness.api", "harness.cli", "harness.parity", "harness.report")),
    ("harness.zoo", ("harness.api", "harness.cli", "harness.report")),
    ("harness.user_model", ("harness.api", "harness.cli", "harness.parity", "harness.report")),
    ("harness.spec", ("harness.api", "harness.cli", "harness.parity", "harness.report", "harness.backends")),
    ("harness.records", ("harness.parity.steps", "harness.parity.judge", "harness.parity.verdict",
                         "harness.report", "harness.spec", "harness.backends", "harness.export", "harness.mil")),
    ("harness.results", ("harness.parity", "harness.report", "harness.spec", "harness.backends",
                         "harness.mil")),
)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


#: Read from anywhere: the one place allowances are decided (localisation's per-op limit included).
EVERYONE_READS = {"harness.parity.tolerances"}


def wrong_way(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((m, t) for m, targets in graph.items() for t in targets - EVERYONE_READS
                  for low, banned in FORBIDDEN if _under(m, low) for b in banned if _under(t, b))


def test_imports_point_the_intended_way():
    assert wrong_way(import_graph()) == []


def test_the_direction_check_sees_an_arrow_the_wrong_way():
    graph = import_graph()
    graph["harness.parity.judge"] = graph["harness.parity.judge"] | {"harness.report.text"}
    graph["harness.zoo"] = graph["harness.zoo"] | {"harness.api"}
    assert wrong_way(graph) == [("harness.parity.judge", "harness.report.text"), ("harness.zoo", "harness.api")]


# -- the harness's tests run users' models (tests/user_model/), not the kit's ------------------------------------

#: The kit's model names, its models' output and its fixture file: what only the kit's model has.
KIT_NAMES = ("trendsplit", "trendsplit-gru", "trendsplit-v2", "trendsplit-v3", "fp16-stress")
KIT_WORDS = ("split_probs", "model_trendsplit.json")
#: The kit's session fixtures (tests/conftest.py).
KIT_FIXTURES = {"trendsplit", "trendsplit_export"}
#: Harness test files that may still name the kit, each with its reason.
KIT_ALLOWED = {
    "tests/harness/test_cli.py": "holds the kit's command line to the harness's conventions (#25): it names the "
                                 "kit's CLI module and script, no model",
    "tests/harness/parity/test_tolerances.py": "checks that no policy's reason says the kit's name",
    "tests/harness/report/test_html_browser.py": "checks that a user's page says none of the kit's words",
}


def kit_uses(source: str) -> list[str]:
    """What in one test file's source names the kit: an import of it, its fixtures as arguments, its model names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        imported = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        found += [f"line {node.lineno}: imports {n}" for n in imported if n.split(".")[0] == "trendsplit"]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = {a.arg for a in node.args.args + node.args.kwonlyargs}
            found += [f"line {node.lineno}: fixture {a}" for a in sorted(args & KIT_FIXTURES)]
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and (node.value in KIT_NAMES or any(w in node.value for w in KIT_WORDS))):
            found.append(f"line {node.lineno}: {node.value[:40]!r}")
    return sorted(found, key=lambda f: int(f.split()[1].rstrip(":")))


def test_harness_tests_run_users_models_not_the_kits():
    """tests/harness/ holds the harness to any user's model; the kit's own tests live in tests/trendsplit/."""
    found = {}
    for path in sorted((ROOT / "tests" / "harness").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        uses = kit_uses(path.read_text())
        if uses and name not in KIT_ALLOWED:
            found[name] = uses
    assert found == {}, f"use a model of tests/user_model/ (the series_model fixture, say): {found}"
    stale = [name for name in KIT_ALLOWED if not (ROOT / name).is_file() or not kit_uses((ROOT / name).read_text())]
    assert stale == [], f"allowed to name the kit, and no longer does: drop from KIT_ALLOWED: {stale}"


def test_the_kit_check_sees_an_import_a_fixture_and_a_model_name():
    planted = '''
from trendsplit.encoding import encode

def test_x(trendsplit_export, series_model):
    spec = get_model("fp16-stress")
    return spec.outputs["split_probs"], "trendsplit-harness/results"
'''
    assert kit_uses(planted) == ["line 2: imports trendsplit.encoding", "line 4: fixture trendsplit_export",
                                 "line 5: 'fp16-stress'", "line 6: 'split_probs'"]
