"""Names the training tests share (a plain module: tests import it, never conftest)."""

#: The cells the ``two_cells`` fixture trains: one per recipe, on the tiny backbone.
TWO_CELLS = ("tiny-augmented-paper-s0", "tiny-metadata-paper-s0")
TWO_CELLS_ARGS = ["run", "--backbones", "tiny", "--epochs", "2"]
