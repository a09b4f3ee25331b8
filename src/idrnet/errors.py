"""The error type for what a user gave idrnet (a value, option, file or model that is not what it
expects). The command line shows these as one line naming the problem (exit 2); any other exception that
escapes is a bug in idrnet and is shown with its traceback, except the machine's own limits (running out
of memory: :func:`out_of_memory`)."""

from __future__ import annotations

import re


class InputError(ValueError):
    """A value, option, file or model given to idrnet is not what it expects; the message names it and
    says what was expected. A ``ValueError``, so code that catches those keeps working."""


class UnknownNameError(InputError, KeyError):
    """A name (of a model, dataset, …) that idrnet does not know; also a ``KeyError`` for lookups."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def out_of_memory(err: BaseException) -> str | None:
    """How much an allocation that failed asked for ("111.8 GiB"; "" when not said), when ``err`` (or its
    cause) is running out of memory: PyTorch's CPU allocator, CUDA's, ONNX Runtime's, or Python's MemoryError."""
    seen: BaseException | None = err
    while seen is not None:
        text = str(seen)
        if isinstance(seen, MemoryError) or type(seen).__name__ == "OutOfMemoryError" or (
                isinstance(seen, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)) \
                or "Failed to allocate memory" in text:  # ONNX Runtime's wording (its own exception types)
            asked = re.search(r"allocate (\d+) bytes", text) or re.search(r"buffer of size (\d+)", text)
            if asked:
                return f"{int(asked.group(1)) / 2 ** 30:.1f} GiB"
            asked = re.search(r"[Aa]llocate ([\d.]+ [KMGT]i?B)", text)
            return asked.group(1) if asked else ""
        seen = seen.__cause__ or seen.__context__
    return None
