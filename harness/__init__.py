"""Model conversion and on-device parity harness for small PyTorch models shipped in iOS apps.

Public API: `from harness import api`, then `api.describe`, `api.export`, `api.parity`,
`api.fixtures`, `api.report`, `api.load`, `api.seeded`, `api.format_report`.
"""

import logging

__version__ = "0.1.0"

# coremltools logs at import, off macOS, that its native runtime is missing; the coreml
# backend reports that itself, once, with its reason. Errors still come through.
logging.getLogger("coremltools").setLevel(logging.ERROR)

