"""CoreML's compute units, the choices of `--compute-units`: known without importing torch or coremltools."""

COMPUTE_UNITS = ("CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL")
