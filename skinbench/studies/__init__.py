"""Published studies skinbench reproduces, each a package of data files and the code that reads them.

``do2022``: the seed paper (Nguyen, Bui & Do's soft-attention study of HAM10000), in two versions.
Leaf layer: the data, models and report layers all read it.
"""
