"""``python -m skinbench``: the same CLI as the ``skinbench`` console script."""

from skinbench.cli import main

main()
