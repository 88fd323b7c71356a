"""Parity: seeded cases through every backend, judged pair by pair, into one verdict.

    cases -> steps.run -> judge (compare under tolerances, claims checked) -> verdict.ParityReport
                                   `-> localize (failing emulated pairs)

- `cases`: the seeded cases, made and streamed a chunk at a time;
- `steps`: the steps the faces call (`run`, `compare`, `parity`); runs backends, so needs torch;
- `judge`: saved results judged against the reference (numpy alone), mergeable chunk by chunk;
- `claims`: what a results file says about itself, checked before it is judged;
- `compare`: one output of one pair under one policy (numbers, decisions, spread);
- `tolerances`: every allowance, named, with its reason;
- `localize`: where a failing emulated pair's program starts to diverge;
- `verdict`: the judged record (`ParityReport`) and its one verdict, `status`.

Importing this package imports none of them: `harness.parity.judge` and `verdict` need numpy alone.
"""
