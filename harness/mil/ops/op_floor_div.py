"""floor_div: x / y rounded towards negative infinity, broadcasting."""

from harness.mil.ops._elementwise import binary, floor_div

run = binary(floor_div)
