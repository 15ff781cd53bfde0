"""Errors that are the user's to fix: the CLI prints them as one line and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (file, argument, device). The message names the
    offending thing and the fix; the CLI prints it without a traceback."""
