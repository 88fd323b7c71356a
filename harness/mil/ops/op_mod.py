"""mod: x % y with Python's sign rule (the op's value inference: operator.mod)."""

from harness.mil.ops._elementwise import binary, mod

run = binary(mod)
