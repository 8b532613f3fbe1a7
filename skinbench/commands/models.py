"""`skinbench models`: the backbone table."""


def models() -> None:
    """List the backbones with parameters, depth, size and FLOPs beside the paper's Table 3."""
    raise NotImplementedError
