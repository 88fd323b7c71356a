"""Model conversion and on-device parity harness for small PyTorch models shipped in iOS apps.

Public API: `from harness import api`, then `api.describe`, `api.export`, `api.parity`,
`api.fixtures`, `api.report`, `api.load`, `api.seeded`, `api.format_report`.
"""

__version__ = "0.1.0"

