"""skinbench: an open benchmark of ImageNet backbones for skin-lesion classification."""

import os

# TensorFlow's C++ start-up chatter drowns the CLI's own output; users can still override it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
