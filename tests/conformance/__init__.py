"""coremltools' own op tests, run against the MIL interpreter instead of Core ML.

Apple's tests build a program, convert it and compare Core ML's prediction with an expected
value computed in numpy or torch; off macOS they skip the prediction. Here Apple's files run
in place (`suites.py` names them) in a fresh pytest process (`run.py`) with our plugin
(`plugin.py`), which swaps the prediction helpers for the interpreter (`helpers.py`,
`predict.py`) and records an outcome per case; `table.py` writes docs/mil-conformance.md.
The default suite checks a fixed sample (`test_sampled.py`) against the known-mismatch table
in `conftest.py`.
"""
