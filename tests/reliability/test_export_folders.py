"""Export folders under attack: hostile names, tampered packages, targets that are not ours,
kills and concurrent writers. Nothing outside the named folder is touched; nothing is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from harness import api, atomic
from harness.errors import HarnessError, UsageError
from harness.export import ensure_exported, stale_reason
from harness.export.manifest import EXPORT_FORMAT_VERSION, ArtifactError, Manifest, not_an_export
from harness.mil import load_program
from harness.mlpackage import PackageError, read_package
from harness.spec import ModelSpec, TensorSpec

HOSTILE_NAMES = ["../../elsewhere/victim", "../victim", "/tmp/victim", "a/b", "..", ".", "", " ", ".hidden",
                 "name\0null", "name\nline", "x" * 101, "C:\\victim", "-rf", "na me", "ünïcode", 5, None]


def _spec(name) -> ModelSpec:
    return ModelSpec(name=name, description="d", build=lambda: nn.Identity(), inputs=(TensorSpec("x", (None, 2)),),
                     outputs=(TensorSpec("y", (None, 2)),), make_cases=lambda n, s: None)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_that_is_not_one_safe_path_component_is_refused(name):
    with pytest.raises(UsageError, match="is not allowed"):
        _spec(name)
    with pytest.raises(UsageError, match="is not allowed"):
        api.describe(name, nn.Identity(), inputs={"x": (None, 2)}, outputs={"y": (None, 2)})


def test_export_into_a_folder_of_someone_elses_files_is_refused_and_keeps_them(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    spec = api.describe("m", nn.Linear(2, 2), inputs={"x": (None, 2)}, outputs={"y": (None, 2)})
    for call in (lambda: api.export(spec, victim), lambda: ensure_exported(spec, victim)):
        with pytest.raises(UsageError, match="other content"):
            call()
    assert [p.name for p in victim.iterdir()] == ["thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim"]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)


def _real_manifest(**fields) -> dict:
    raw = {"model": "m", "weights_sha256": "0" * 64, "model_fingerprint": "0" * 64, "weights_source": "seeded",
           "trained": False, "metadata": {}, "export_format_version": EXPORT_FORMAT_VERSION, "versions": {},
           "artifacts": [], "failures": {}}
    return {**raw, **fields}


@given(manifest=st.one_of(
    json_values,  # anything at all: a browser extension's, a package.json's, a list...
    st.builds(lambda extra: {**_real_manifest(), **extra}, st.dictionaries(st.text(), json_values, min_size=1)),
    st.builds(lambda key: {k: v for k, v in _real_manifest().items() if k != key}, st.sampled_from(
        sorted(_real_manifest()))),  # the harness's fields, one missing
    st.builds(lambda key, value: _real_manifest(**{key: value}), st.sampled_from(sorted(_real_manifest())),
              json_values),  # one field of another type (or, rarely, the same)
))
def test_a_folder_whose_manifest_json_is_not_the_harness_s_is_never_replaced(tmp_path_factory, manifest):
    """Item 9: a folder holding a `manifest.json` was replaced whole, whatever that file said."""
    victim = tmp_path_factory.mktemp("ext") / "ext"
    victim.mkdir()
    (victim / "manifest.json").write_text(json.dumps(manifest))
    (victim / "background.js").write_text("the extension's code")
    spec = api.describe("m", nn.Linear(2, 2), inputs={"x": (None, 2)}, outputs={"y": (None, 2)})
    for call in (lambda: api.export(spec, victim), lambda: ensure_exported(spec, victim)):
        with pytest.raises(UsageError, match="other content") as info:
            call()
        assert str(victim) in str(info.value)
    assert sorted(p.name for p in victim.iterdir()) == ["background.js", "manifest.json"]
    assert (victim / "background.js").read_text() == "the extension's code"


def test_a_harness_export_with_a_user_s_file_in_it_is_not_replaced(export_copy):
    manifest, folder = export_copy
    assert not_an_export(folder) is None
    (folder / "NOTES.md").write_text("a user's notes")
    assert "NOTES.md" in not_an_export(folder)
    with pytest.raises(UsageError, match="NOTES.md"):
        api.export(api.describe("m", nn.Linear(2, 2), inputs={"x": (None, 2)}, outputs={"y": (None, 2)}), folder)
    assert (folder / "NOTES.md").read_text() == "a user's notes"


def test_a_converter_that_fails_part_way_leaves_no_file_in_the_export(tmp_path, monkeypatch):
    """With keep_going a failed stage is recorded; what it wrote is removed, so the folder stays ours."""
    from harness import export

    def half_written(spec, module, folder, precision):
        (folder / "m-half.mlpackage").mkdir()
        (folder / "m-half.mlpackage" / "partial").write_bytes(b"\0" * 10)
        raise RuntimeError("converter died")

    monkeypatch.setitem(export.EXPORTERS, ("coreml", "fp32"), half_written)
    spec = api.describe("m", nn.Linear(2, 2), inputs={"x": (None, 2)}, outputs={"y": (None, 2)})
    folder = tmp_path / "m"
    manifest = export.export_model(spec, folder, targets=[("onnx", "fp32"), ("coreml", "fp32")], keep_going=True)
    assert "coreml@fp32" in manifest.failures
    assert sorted(p.name for p in folder.iterdir()) == ["m.onnx", "manifest.json"]
    assert not_an_export(folder) is None
    export.export_model(spec, folder, targets=[("onnx", "fp32")])  # and it can be replaced again


@pytest.mark.parametrize("kind", ["file", "symlink", "fifo"])
def test_export_over_a_non_folder_is_refused_and_keeps_it(tmp_path, kind):
    target = tmp_path / "out"
    if kind == "file":
        target.write_text("user data")
    elif kind == "symlink":
        (tmp_path / "real").mkdir()
        target.symlink_to(tmp_path / "real")
    else:
        os.mkfifo(target)
    spec = api.describe("m", nn.Linear(2, 2), inputs={"x": (None, 2)}, outputs={"y": (None, 2)})
    with pytest.raises(UsageError, match="not an output folder"):
        api.export(spec, target)
    assert os.path.lexists(target)
    if kind == "file":
        assert target.read_text() == "user data"


@pytest.mark.parametrize("kind", ["directory", "symlink", "fifo", "device"])
def test_atomic_write_refuses_what_is_not_a_regular_file(tmp_path, kind):
    target = tmp_path / "report.json"
    if kind == "directory":
        target.mkdir()
    elif kind == "symlink":
        (tmp_path / "elsewhere").write_text("keep")
        target.symlink_to(tmp_path / "elsewhere")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target = __import__("pathlib").Path("/dev/null")
    before = os.lstat(target)
    with pytest.raises(UsageError, match="not a regular file|is a folder|is a symlink|is a pipe|is a device"):
        atomic.write_text(target, "{}")
    after = os.lstat(target)
    assert (before.st_mode, before.st_ino) == (after.st_mode, after.st_ino)


def test_atomic_write_under_a_file_or_a_read_only_folder_is_one_usage_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot write"):
        atomic.write_text(tmp_path / "file" / "report.json", "{}")
    if os.geteuid() != 0:  # root writes through read-only modes
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(UsageError, match="cannot write"):
            atomic.write_text(ro / "report.json", "{}")


# -- tampered packages --------------------------------------------------------------------------

@pytest.fixture
def export_copy(trendsplit_export, tmp_path):
    manifest, folder = trendsplit_export
    copy = tmp_path / "trendsplit"
    shutil.copytree(folder, copy, symlinks=True)
    return manifest, copy


def _package(manifest, folder, precision="fp32"):
    return folder / manifest.artifact("coreml", precision).path


def _edit_package_manifest(package, edit):
    path = package / "Manifest.json"
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))


def _root_entry(raw):
    return raw["itemInfoEntries"][raw["rootModelIdentifier"]]


def _outside_spec(tmp_path, manifest, folder):
    """A real model spec outside the package: the fp16 conversion's, copied elsewhere."""
    other = tmp_path / "other.mlmodel"
    shutil.copy(read_package(_package(manifest, folder, "fp16")).spec, other)
    return other


TAMPERS = {
    "root model points through the folder above": lambda raw, other: _root_entry(raw).update(
        path="com.apple.CoreML/../../../../other.mlmodel"),
    "absolute path": lambda raw, other: _root_entry(raw).update(path=str(other)),
    "dot-dot path": lambda raw, other: _root_entry(raw).update(path="../../../other.mlmodel"),
    "path is a number": lambda raw, other: _root_entry(raw).update(path=5),
    "root identifier names nothing": lambda raw, other: raw.update(rootModelIdentifier="nope"),
    "no entries": lambda raw, other: raw.update(itemInfoEntries={}),
    "entries is a list": lambda raw, other: raw.update(itemInfoEntries=[1, 2]),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_a_tampered_package_manifest_is_caught_by_verify_and_refused_by_the_loader(export_copy, tmp_path, tamper):
    manifest, folder = export_copy
    package = _package(manifest, folder)
    other = _outside_spec(tmp_path, manifest, folder)
    _edit_package_manifest(package, lambda raw: TAMPERS[tamper](raw, other))
    assert manifest.verify(folder)  # never reused as if current
    with pytest.raises(PackageError):
        load_program(package)


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe\x00", b"null", b"[]", b'{"itemInfoEntries": 5}'])
def test_a_malformed_or_missing_package_manifest_is_a_named_problem(export_copy, content):
    manifest, folder = export_copy
    package = _package(manifest, folder)
    (package / "Manifest.json").write_bytes(content)
    assert any("Manifest.json" in p for p in manifest.verify(folder))
    (package / "Manifest.json").unlink()
    assert manifest.verify(folder)
    with pytest.raises(PackageError):
        load_program(package)


def test_pointing_the_root_model_at_another_spec_inside_the_package_is_a_changed_artifact(export_copy, tmp_path):
    manifest, folder = export_copy
    package = _package(manifest, folder)
    other = _outside_spec(tmp_path, manifest, folder)
    shutil.copy(other, package / "Data" / "com.apple.CoreML" / "other.mlmodel")
    _edit_package_manifest(package, lambda raw: _root_entry(raw).update(path="com.apple.CoreML/other.mlmodel"))
    assert any("changed" in p for p in manifest.verify(folder))


def test_a_symlink_inside_a_package_is_refused(export_copy, tmp_path):
    manifest, folder = export_copy
    package = _package(manifest, folder)
    spec_file = read_package(package).spec
    outside = tmp_path / "outside.mlmodel"
    shutil.move(spec_file, outside)
    spec_file.symlink_to(outside)
    assert any("symlink" in p for p in manifest.verify(folder))
    with pytest.raises(PackageError, match="symlink"):
        load_program(package)


def test_a_weight_path_in_the_spec_that_leaves_the_package_is_refused(export_copy):
    from coremltools.proto import Model_pb2

    manifest, folder = export_copy
    package = _package(manifest, folder)
    spec_file = read_package(package).spec
    model = Model_pb2.Model()
    model.ParseFromString(spec_file.read_bytes())
    fn = model.mlProgram.functions["main"]
    block = fn.block_specializations[fn.opset]
    edited = 0
    for op in block.operations:
        if op.type == "const" and op.attributes["val"].WhichOneof("value") == "blobFileValue":
            op.attributes["val"].blobFileValue.fileName = "@model_path/../../../../../../etc/passwd"
            edited += 1
    assert edited
    spec_file.write_bytes(model.SerializeToString())
    assert manifest.verify(folder)
    with pytest.raises(PackageError, match="leaves the package"):
        load_program(package)


def test_a_tampered_export_is_re_exported_with_a_note(trendsplit, export_copy, tmp_path):
    manifest, folder = export_copy
    other = _outside_spec(tmp_path, manifest, folder)
    _edit_package_manifest(_package(manifest, folder), lambda raw: _root_entry(raw).update(path=str(other)))
    notes = []
    fresh = ensure_exported(trendsplit, folder, progress=notes.append)
    assert any("re-exporting" in n and "trendsplit-fp32.mlpackage" in n for n in notes), notes
    assert fresh.verify(folder) == [] and stale_reason(trendsplit, folder) is None
    assert other.exists()  # what the tamper pointed at is not ours to delete


@pytest.mark.parametrize("content", ["", "{", "null", "[]", '{"model": 5}', '{"artifacts": [{"path": 5}]}'])
def test_a_malformed_harness_manifest_is_a_named_problem_not_a_traceback(tmp_path, content):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ArtifactError, match="manifest"):
        Manifest.read(tmp_path)


def test_an_artifact_path_that_leaves_the_folder_is_refused(export_copy):
    manifest, folder = export_copy
    raw = json.loads((folder / "manifest.json").read_text())
    raw["artifacts"][0]["path"] = "../../etc/passwd"
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="not a file name inside the folder"):
        Manifest.read(folder)
    assert isinstance(ArtifactError("x"), HarnessError)


# -- the swap: atomic, locked, self-cleaning ----------------------------------------------------

#: Swaps per swapping process: about 1.5 ms each, so a test spends its time swapping, not waiting.
SWAPS = 300

_SWAPPER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from harness import atomic
    target, tag, swaps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    for k in range(swaps):
        with atomic.staged_dir(target, ours=lambda f: None if (f / "marker").is_file() else "no marker") as stage:
            (stage / "marker").write_text(tag)
            for i in range(20):
                (stage / f"f{i}").write_text(str(k))
    print(swaps)
""")


def _marked(folder):
    return None if (folder / "marker").is_file() else "no marker"


def _swapper(target, tag, swaps=SWAPS):
    """A process swapping `target` `swaps` times, returned once it has started (its imports done)."""
    proc = subprocess.Popen([sys.executable, "-c", _SWAPPER, str(target), tag, str(swaps)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    return proc


def test_the_folder_is_never_absent_while_another_process_swaps_it(tmp_path):
    target = tmp_path / "out"
    with atomic.staged_dir(target, ours=_marked) as stage:
        (stage / "marker").write_text("first")
    proc = _swapper(target, "a")
    absent, looks = 0, 0
    while proc.poll() is None:  # watched for as long as it swaps
        looks += 1
        if not (target / "marker").is_file():
            absent += 1
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert int(out) == SWAPS and looks > 3 * SWAPS, (out, looks)  # each swap watched several times
    assert absent == 0


def test_concurrent_writers_take_turns_and_both_succeed(tmp_path):
    target = tmp_path / "out"
    procs = [_swapper(target, tag) for tag in ("a", "b")]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in results]
    assert all(int(out) == SWAPS for out, _ in results)
    assert (target / "marker").read_text() in ("a", "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_kills_mid_swap_leave_a_whole_folder_and_leftovers_are_cleaned(tmp_path):
    target = tmp_path / "out"
    for k in range(6):
        proc = _swapper(target, f"k{k}", 10**6)
        time.sleep(0.01 + 0.013 * k)  # killed at a different point of a swap each time
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():
            files = sorted(p.name for p in target.iterdir())
            assert files == sorted(["marker", *(f"f{i}" for i in range(20))])
            assert len({(target / f"f{i}").read_text() for i in range(20)}) == 1  # one generation, whole
    with atomic.staged_dir(target, ours=_marked) as stage:
        (stage / "marker").write_text("last")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -- the CLI: one line, the right exit code, before any work -----------------------------------

@pytest.mark.parametrize(("argv", "says"), [
    (["parity", "--n", "0"], "between 1"),
    (["parity", "--n", "10000000000000"], "between 1"),
    (["parity", "--n", "100001", "--save", "{dir}/run"], "--save keeps every output"),
    (["run", "--n", "100001"], "between 1"),
    (["parity", "--n", "1e3"], "whole number"),
    (["parity", "--seed", "-1"], "between 0"),
    (["report", "--n", "-5"], "between 1"),
    (["trendsplit", "evaluate", "--n", "0"], "between 1"),
    (["localize", "--n", "0"], "between 1"),
    (["trendsplit", "swift-fuzz", "--cases", "0"], "between 1"),
    (["trendsplit", "bench", "--fuzz-seconds", "nan"], "finite"),
    (["trendsplit", "bench", "--fuzz-seconds", "-1"], "finite"),
    (["trendsplit", "bench", "--fuzz-seconds", "inf"], "finite"),
    (["parity", "--json", "{dir}"], "not a regular file"),
    (["parity", "--json", "/dev/full"], "not a regular file"),
    (["parity", "--html", "{dir}"], "not a regular file"),
    (["export", "--out", "{file}"], "not an output folder"),
    (["parity", "--artifacts", "{file}", "--backends", "torch"], "not an output folder"),
    (["export", "--out", "{file}/sub"], "is a file, not a folder"),
    (["parity", "--backends", "torch", "--artifacts", "/proc/self/nonexistent/x"], "cannot write"),
    (["parity", "--model", "{file}:factory"], "unknown model"),
    (["parity", "--model", "{missing}.py:factory"], "no such file"),
])
def test_bad_cli_input_is_one_line_and_exit_2(tmp_path, capsys, argv, says):
    from harness import cli
    from trendsplit import cli as kit_cli

    main = kit_cli.main if argv[0] == "trendsplit" else cli.main
    argv = argv[1:] if argv[0] == "trendsplit" else argv
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("a user's file")
    argv = [a.format(dir=tmp_path / "d", file=tmp_path / "f", missing=tmp_path / "nope") for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[harness]")]
    assert says in lines[-1], err
    assert "Traceback" not in err
    assert (tmp_path / "f").read_text() == "a user's file"


def test_an_internal_error_is_one_line_with_a_way_to_the_traceback(tmp_path, capsys, monkeypatch):
    from harness import cli
    from harness.parity import steps

    def bug(*args, **kwargs):
        raise KeyError("a bug of ours")

    monkeypatch.setattr(steps, "parity", bug)
    argv = ["parity", "--backends", "torch", "--n", "1", "--artifacts", str(tmp_path / "a")]
    monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    assert cli.main(argv) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[harness]")]
    assert lines == ["python -m harness: internal error: KeyError: 'a bug of ours' "
                     "(set HARNESS_DEBUG=1 for the traceback)"]
    monkeypatch.setenv("HARNESS_DEBUG", "1")
    with pytest.raises(KeyError, match="a bug of ours"):
        cli.main(argv)
