"""coremltools' own op tests, run against the MIL interpreter instead of Core ML.

Apple's tests build a program, convert it and compare Core ML's prediction with an expected
value computed in numpy or torch; off macOS they skip the prediction. Here the prediction
step is replaced by the interpreter (`helpers.py`), outcomes are recorded per case
(`plugin.py`), and `table.py` runs a suite and writes docs/mil-conformance.md.
"""
