"""The line of a Spark / Py4J error that says what went wrong, for featurespark's own messages."""
from __future__ import annotations

import re

__all__ = ["error_summary"]

_CAUSE = re.compile(r"[\w.$]+(Exception|Error)\b.*:")


def error_summary(exc: BaseException, limit: int = 300) -> str:
    """The Java exception line of a Py4J error (``org.postgresql.util.PSQLException: FATAL: ...``), else
    the first line of the message, cut to ``limit`` characters.

    Examples
    --------
    >>> error_summary(RuntimeError("An error occurred while calling o87.load.\\n: java.io.FileNotFoundException: "
    ...                            "File /x does not exist\\n\\tat java.base/..."))
    'java.io.FileNotFoundException: File /x does not exist'
    >>> error_summary(ValueError("bad value"))
    'bad value'
    """
    lines = [line.strip().lstrip(": ").strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    cause = next((line for line in lines if _CAUSE.match(line)), lines[0])
    return cause[:limit]
