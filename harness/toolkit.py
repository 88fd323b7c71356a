"""The public pieces for projects that build their own commands and files on the harness (the trendsplit
kit is one), importable without torch so that a command's `--help` answers at once.

Models, exports, backends, checks and fixture documents are `harness.api`; this is the rest a project
needs to behave like `python -m harness`: its command-line conventions (exit 0 pass, 1 a failed check,
2 a usage error; one line per error; progress on stderr), its option types, atomic writes that stay
inside the folder the user named, bounded reads, and the error types. Anything else in `harness` is
internal and may move.
"""

from __future__ import annotations

from harness import __version__, atomic, files
from harness.cli import (
    CASES,
    SEED,
    common_options,
    export_source,
    int_in,
    invoked_as,
    model_argument,
    model_name,
    output_file,
    output_folder,
    path_argument,
    run,
    seconds,
    subcommands,
)
from harness.errors import HarnessError, UsageError

__all__ = [
    "__version__", "atomic", "files",  # writes inside the named folder; reads with a size limit
    "run", "subcommands", "common_options", "invoked_as",  # a command's frame: exit codes, errors, progress
    "CASES", "SEED", "int_in", "seconds", "path_argument", "output_file", "output_folder",  # option types
    "model_argument", "model_name", "export_source",  # the --model option and an export folder to read
    "HarnessError", "UsageError",
]
