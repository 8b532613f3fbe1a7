"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class SkinbenchError(Exception):
    """A problem the user can fix (bad path, bad data, missing weights...).

    The message names what is wrong, where, and how to fix it. ``exit_code`` is the
    process exit status the CLI uses.
    """

    exit_code = 2


class DataError(SkinbenchError):
    """The dataset cannot be used as given."""


class ModelError(SkinbenchError):
    """A model cannot be built as asked (unknown backbone, weights unavailable...)."""


class RunError(SkinbenchError):
    """A run or report cannot proceed (bad options, missing results folder...)."""
