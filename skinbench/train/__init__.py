"""Training cells and running matrices of them."""
