"""`skinbench bench`."""


def bench() -> None:
    """Measure training and inference throughput."""
    raise NotImplementedError
