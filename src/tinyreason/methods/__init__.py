"""Inference-time methods: compositions of generate -> grade -> select. Importing this package
registers every built-in method."""

from tinyreason.methods import greedy, sc  # noqa: F401  (registration)
from tinyreason.methods.base import Method, create_method, method_names

__all__ = ["Method", "create_method", "method_names"]
