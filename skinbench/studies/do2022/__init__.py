"""The seed paper: Nguyen, Bui & Do's soft-attention study of HAM10000, as data.

``versions``: the versions of the paper (``VERSIONS``); ``published``: their published numbers, one
data file per version (``preprint.csv``, ``sensors2022.csv``), read through :func:`published.published`.
"""
