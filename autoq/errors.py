"""The one error type that autoq raises for bad input.

The CLI prints its message without a traceback and exits 2.
"""


class AutoqError(ValueError):
    """Bad input: the message names what is wrong and what is allowed."""
