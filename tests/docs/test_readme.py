"""The README's "Bring your own model" example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_bring_your_own_model_example_runs_as_written(tmp_path, monkeypatch, capsys):
    section = README.read_text().split("## Bring your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    report = namespace["report"]
    assert report and "[logits]" in capsys.readouterr().out
    assert (tmp_path / "reports" / "scorer.html").exists()
    assert (tmp_path / "fixtures" / "model_scorer.json").exists()
    assert (tmp_path / "artifacts" / "scorer" / "manifest.json").exists()


def test_the_plugin_example_runs_as_written(pytester, converters_imported):
    section = README.read_text().split("In your own test suite the pytest plugin", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code.startswith("# tests/test_conversion.py")
    pytester.makepyfile(test_conversion=code)
    result = pytester.runpytest("-q", "-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_the_documented_policy_table_is_what_the_code_prints():
    from harness.parity.tolerances import table

    assert table() in (README.parent / "docs" / "tolerances.md").read_text()  # regenerate: python -m harness policies


def test_the_quickstart_says_how_to_get_the_cpu_wheel_of_the_pinned_torch():
    import tomllib

    pin = next(d for d in tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("torch=="))
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert f"pip install {pin} --index-url https://download.pytorch.org/whl/cpu" in quickstart
    ci = (README.parent / ".ci" / "run").read_text()
    assert "download.pytorch.org" not in ci  # CI reaches PyPI only


def test_the_readme_names_no_calibration_call_that_refuses_what_it_documents():
    text = README.read_text()
    assert "harness.calibrate.recalibrate_batchnorm" not in text
    assert "`api.recalibrate_batchnorm(module, batches)` (a list of batches, each a tensor or a tuple" in text
