"""real_div: x / y, broadcasting (an int32 result is truncated by its declared dtype)."""

from harness.mil.ops._elementwise import binary, real_div

run = binary(real_div)
