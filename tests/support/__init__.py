"""Shared test helpers (endpoint process, fixtures)."""
