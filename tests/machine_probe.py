"""What a machine computes, for `tests/test_determinism.py` to compare between simulated machines.

    python -m tests.machine_probe [FIXTURES_DIR]

regenerates the fixtures in FIXTURES_DIR (a copy of the committed ones) when given, and prints one
JSON object: `check`, what `python -m trendsplit fixtures check` says of the committed fixtures (when
FIXTURES_DIR is given);
`seeded`, the sha256 of everything the project calls deterministic (seeded cases, seeded and
calibrated weights, fingerprints), which must be the same everywhere; `kernels`, the sha256 of
float kernels that legitimately differ between machines (numpy's SIMD paths, OpenBLAS, torch's
capabilities and thread pools), which shows the simulated machine is really another one; and
`old_wild`, the derivation the encoding fixture's wild cases used before (`normal * 10.0 ** k`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np


def _sha(*arrays) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


#: Seeded cases: (model, n, seed); 1,100 cases are two chunks (harness/parity/cases.py).
CASES = (("trendsplit", 1_100, 3), ("trendsplit-v2", 100, 0), ("zoo-conv1d-bn", 200, 0),
         ("zoo-embedding", 200, 0), ("tests/user_model/tiny_vision.py:describe_model", 200, 0))
#: Seeded weights: untrained models built from `harness.spec.seeded_init`, BatchNorm re-estimated where they have it.
WEIGHTS = ("fp16-stress", "zoo-conv1d-bn", "zoo-unet", "zoo-depthwise", "zoo-transformer", "zoo-attention",
           "zoo-bilstm", "zoo-embedding", "zoo-norm-mlp", "tests/user_model/tiny_vision.py:describe_model")


def seeded() -> dict[str, str]:
    from harness.models import get_model
    from harness.parity import cases
    from harness.results import feeds_sha256
    from harness.spec import model_fingerprint, weights_sha256
    from trendsplit import data, gru, net, portable_math, posterior

    out = {f"cases {m} n={n} seed={s}": feeds_sha256(cases.make(get_model(m), n, s).feeds) for m, n, s in CASES}
    out.update({f"weights {m}": weights_sha256(get_model(m).build()) for m in WEIGHTS})
    out["weights trendsplit.net.seeded"] = weights_sha256(net.seeded())
    wide = np.ldexp(np.linspace(0.5, 1.0, 100_003), np.arange(100_003) % 2_098 - 1_074)  # no kernel makes these
    out["trendsplit.portable_math exp, log"] = _sha(portable_math.exp(np.linspace(-750.0, 710.0, 100_003)),
                                                    portable_math.log(wide))
    rng = np.random.default_rng(7)
    out["trendsplit.posterior of 6 seeded logs"] = _sha(*(posterior.break_probabilities(
        data.watch_log(rng, n=int(rng.integers(2, 30))).points) for _ in range(6)))
    out["weights trendsplit.gru.seeded"] = weights_sha256(gru.seeded())
    out["weights BatchNorm after bias-free convolutions"] = weights_sha256(_recalibrated_chain())
    for m in ("trendsplit", "zoo-conv1d-bn"):  # what an export folder and the pytest plugin's cache are keyed by
        spec = get_model(m)
        out[f"fingerprint {m}"] = model_fingerprint(spec, spec.build())
    return out


def _recalibrated_chain():
    """BatchNorm statistics that are float noise (a bias-free convolution of a normalised input has mean 0
    exactly, measured as +-1e-16): measured in float32 they differ on a CPU without AVX2."""
    import torch
    from torch import nn

    from harness.calibrate import recalibrate_batchnorm
    from harness.exact_random import ExactGenerator
    from harness.spec import seeded_init

    x = torch.from_numpy(ExactGenerator(1).normal(size=(64, 3, 32, 32)).astype(np.float32))
    chain = seeded_init(lambda: nn.Sequential(
        nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 16, 3, groups=16, bias=False), nn.BatchNorm2d(16),
        nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8)))
    return recalibrate_batchnorm(chain, [(x,)])


def old_wild(cases: int = 80) -> str:
    """The wild cases' values as `trendsplit/fixtures.py` drew them before issue #25."""
    rng = np.random.default_rng(20261126)
    values = []
    for _ in range(cases):
        n = int(rng.integers(0, 130))
        values.append(rng.normal(0, 1, (n, 2)) * 10.0 ** rng.integers(-300, 300, 2))
    return _sha(*values)


def kernels() -> dict[str, str]:
    import torch

    x64 = np.linspace(-30.0, 30.0, 100_003)
    x32 = x64.astype(np.float32)
    rng = np.random.default_rng(0)
    a, b = rng.random((300, 300)), rng.random((300, 300))
    conv = torch.nn.functional.conv1d(torch.from_numpy(x32[:64_000].reshape(8, 8, 1000)),
                                      torch.from_numpy(x32[:8 * 8 * 5].reshape(8, 8, 5) / 30))
    big = torch.from_numpy(np.resize(x32, 4_000_000))
    return {"numpy exp/log/sin float64": _sha(np.exp(x64 / 10), np.log(np.abs(x64) + 1), np.sin(x64)),
            "numpy exp/log/sin float32": _sha(np.exp(x32 / 10), np.log(np.abs(x32) + 1), np.sin(x32)),
            "numpy 10.0 ** k": _sha(10.0 ** np.arange(-300, 300)),
            "OpenBLAS dgemm": _sha(a @ b),
            "torch conv1d": _sha(conv.numpy()),
            "torch sum (threads)": _sha(big.sum().numpy(), (big * big).mean().numpy())}


def check() -> dict:
    """`python -m trendsplit fixtures check` on the committed fixtures, in this process."""
    import contextlib
    import io

    from trendsplit.cli import main as trendsplit

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = trendsplit(["fixtures", "check"])
    return {"exit": code, "output": out.getvalue()}


def main(argv: list[str]) -> int:
    checked = None
    if argv:  # the fixtures: what another machine regenerates and checks (this one's are the committed files)
        from trendsplit import fixtures

        fixtures.regenerate(Path(argv[0]))
        checked = check()
    print(json.dumps({"seeded": seeded(), "kernels": kernels(), "old_wild": old_wild(), "check": checked},
                     indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
