"""`tox -e coreml`: real CoreML predictions on macOS; elsewhere one line saying why it is skipped.

On a Mac: the coreml-marked tests, parity on every backend per compute-unit setting, and the
emulation measured against real CoreML (real CoreML the reference, each profile a candidate).
"""

import subprocess
import sys
from pathlib import Path

if sys.platform != "darwin":
    print(f"tox -e coreml: skipped: real CoreML predictions need macOS (this is {sys.platform}); "
          "on Linux the coreml-emulated backend and the artifact checks run in the default tests")
    sys.exit(0)

out = Path(sys.argv[1] if len(sys.argv) > 1 else "reports")
runs = [[sys.executable, "-m", "pytest", "-m", "coreml"]]
for units, tag in (("CPU_ONLY", "cpu"), ("CPU_AND_GPU", "gpu"), ("ALL", "all")):
    runs.append([sys.executable, "-m", "harness", "parity", "--n", "1000", "--compute-units", units,
                 "--json", str(out / f"parity-{tag}.json")])
for units, tag in (("CPU_ONLY", "cpu"), ("CPU_AND_GPU", "gpu"), ("CPU_AND_NE", "ne")):
    backends = (f"coreml@fp16[{units}],coreml-emulated@fp16[fp32],coreml-emulated@fp16[fp16-storage],"
                "coreml-emulated@fp16[fp16]")
    runs.append([sys.executable, "-m", "harness", "parity", "--n", "1000", "--backends", backends,
                 "--json", str(out / f"emulation-{tag}.json")])
failed = [" ".join(r) for r in runs if subprocess.run(r).returncode != 0]
print("\n".join(f"failed: {f}" for f in failed) or "tox -e coreml: all passed")
sys.exit(1 if failed else 0)
