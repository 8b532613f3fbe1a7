"""Loading, validating, caching and batching HAM10000 (or its synthetic stand-in)."""
