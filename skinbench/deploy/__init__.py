"""Trained models after the run: load a kept cell, predict new images, export for a phone."""
