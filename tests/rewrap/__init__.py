"""Tests of re-wrapping: the pure header rewrite, the server-side object rewrite and the CLI."""
