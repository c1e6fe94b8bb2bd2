"""Backends generate; nothing else. See base.py for the contract and the registry."""

from tinyreason.backends.base import Backend, backend_names, create_backend, register_backend

__all__ = ["Backend", "backend_names", "create_backend", "register_backend"]
