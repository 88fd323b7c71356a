"""CoreML without a Mac: read an `.mlpackage`'s MIL program and execute it in numpy.

`load_program` parses the program protobuf and weights (with coremltools' own readers);
`Interpreter` runs it op by op under a precision `Profile`, honouring every declared
dtype and capturing every intermediate value by name; `localize` finds the first op
where two runs part ways. These are emulations and bounds, not device-exact results.
"""

from harness.mil.interpreter import Interpreter, RunResult
from harness.mil.profiles import PROFILES, Profile, get_profile
from harness.mil.program import Program, load_program

__all__ = ["Interpreter", "RunResult", "PROFILES", "Profile", "get_profile", "Program", "load_program"]
