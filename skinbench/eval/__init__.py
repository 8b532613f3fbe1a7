"""Metrics computed from a cell's predictions."""
