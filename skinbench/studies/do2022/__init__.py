"""The seed paper: Nguyen, Bui & Do's soft-attention study of HAM10000, as data.

``versions``: the versions of the paper (``VERSIONS``); ``published``: their published numbers, one
data file per version (``preprint.csv``, ``sensors2022.csv``), read through :func:`published.published`;
``claims.toml``: its claims, one entry each, with each version's wording and source (read by the report's
``report.claim_data``, which checks them against the measures the report computes).
"""
