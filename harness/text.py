"""Text that came from files or other processes, made safe to show on a terminal."""

from __future__ import annotations


def printable(text: object) -> str:
    """`text` with every control or invisible character escaped (`\\x1b`, `\\n`, `\\u202e`): strings
    from results files (device names, reasons) cannot move the cursor, hide lines or fake a verdict."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))
