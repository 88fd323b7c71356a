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
