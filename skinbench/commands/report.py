"""`skinbench report`."""


def report() -> None:
    """Write the paper's tables and plots from run folders."""
    raise NotImplementedError
