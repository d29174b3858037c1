"""The one error type that autoq raises for bad input.

The CLI prints its message without a traceback and exits 2.
"""
import re


class AutoqError(ValueError):
    """Bad input: the message names what is wrong and what is allowed."""


_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it (scheme://user:password@host) masked."""
    return _CREDENTIALS.sub(r"\1:***@", text)
