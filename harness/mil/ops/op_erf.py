"""erf: the Gauss error function, in float32."""

from harness.mil.ops._elementwise import erf, unary

run = unary(erf)
