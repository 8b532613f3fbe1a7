"""skinbench: an open benchmark of ImageNet backbones for skin-lesion classification.

The Python API (``skinbench.api``)::

    import skinbench

    spec = skinbench.RunSpec.from_options(matrix="demo", dataset="synthetic", out="results/demo")
    skinbench.run(spec)                       # train the cells; finished ones are kept
    run = skinbench.load_run("results/demo")  # typed cells, and a pandas table of their metrics
    skinbench.write_report("results/demo")    # report.md and its CSVs
"""

from skinbench.train.startup import quiet_tensorflow_start
from skinbench.version import __version__

# Before any module imports Keras: without an NVIDIA driver, TensorFlow's C++ start-up lines stay off the terminal.
quiet_tensorflow_start()

__all__ = ["RunSpec", "Run", "run", "load_run", "write_report", "__version__"]


def __getattr__(name: str):
    """The API's names, imported when first used: ``import skinbench`` stays as light as the CLI needs."""
    if name == "RunSpec":
        from skinbench.spec import RunSpec

        return RunSpec
    if name in ("Run", "run", "load_run", "write_report"):
        from skinbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'skinbench' has no attribute {name!r}")
