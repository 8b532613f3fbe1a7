"""skinbench: an open benchmark of ImageNet backbones for skin-lesion classification."""

__version__ = "0.1.0"
