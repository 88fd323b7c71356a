"""pow: x ** y, broadcasting."""

from harness.mil.ops._elementwise import binary, power

run = binary(power)
