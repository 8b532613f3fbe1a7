"""Backbones, the Soft-Attention layer and the model builder."""
