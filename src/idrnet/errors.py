"""The error type for what a user gave idrnet (a value, option, file or model that is not what it
expects). The command line shows these as one line naming the problem (exit 2); any other exception that
escapes is a bug in idrnet and is shown with its traceback."""

from __future__ import annotations


class InputError(ValueError):
    """A value, option, file or model given to idrnet is not what it expects; the message names it and
    says what was expected. A ``ValueError``, so code that catches those keeps working."""


class UnknownNameError(InputError, KeyError):
    """A name (of a model, dataset, …) that idrnet does not know; also a ``KeyError`` for lookups."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
