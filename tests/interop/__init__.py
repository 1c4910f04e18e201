"""Interop checks against other implementations, run on demand (see docs/interop.md)."""
