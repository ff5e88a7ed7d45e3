"""Errors the user can fix.

A `UsageError` carries one line that names the problem and, where there is one, the fix. The CLI prints it
and exits with code 2; anything else is a bug and keeps its traceback.
"""


class UsageError(ValueError):
    """Bad input: an unknown name, an out-of-range number, a missing or malformed file."""
