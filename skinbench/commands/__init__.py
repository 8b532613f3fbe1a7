"""Typer commands, one small module each; ``skinbench.cli`` registers them."""
