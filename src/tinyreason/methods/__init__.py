"""Inference-time methods: compositions of generate -> grade -> select. Importing this package
registers every built-in method."""

from tinyreason.methods import adaptive, greedy, hybrid, pal, reflect, sc, sc_reflect, sc_verifier, structured  # noqa: F401  (registration)
from tinyreason.methods.base import Method, create_method, method_names

__all__ = ["Method", "create_method", "method_names"]
