"""The seed paper: Nguyen, Bui & Do's soft-attention study of HAM10000, as data.

``published``: its published numbers, one data file per version of the paper (``preprint.csv``,
``sensors2022.csv``), read through :func:`published.published`.
"""
