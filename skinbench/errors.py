"""User-facing errors: the CLI prints their message on one line and exits non-zero."""

from __future__ import annotations

import re
from typing import Iterable, Mapping


class SkinbenchError(Exception):
    """A problem the user can fix (bad path, bad data, missing weights...).

    The message names what is wrong, where, and how to fix it. ``exit_code`` is the
    process exit status the CLI uses. ``fields``: the names of the settings the message
    speaks of, as the library knows them (a run specification's ``section.field``, e.g.
    ``model.weights``); a command shows each under its own name for it (``named``), so the
    command line says ``--weights`` where Python says ``model.weights``.
    """

    exit_code = 2

    def __init__(self, message: str = "", *, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)

    def named(self, names: Mapping[str, str]) -> str:
        """The message with each of ``fields`` that ``names`` knows written as ``names[field]``."""
        message = str(self)
        for field in self.fields:
            if field in names:
                message = re.sub(rf"(?<![\w./-]){re.escape(field)}(?![\w])", names[field], message)
        return message


class DataError(SkinbenchError):
    """The dataset cannot be used as given."""


class ModelError(SkinbenchError):
    """A model cannot be built as asked (unknown backbone, weights unavailable...)."""


class RunError(SkinbenchError):
    """A run or report cannot proceed (bad options, missing results folder...)."""
