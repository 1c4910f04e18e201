"""The public surface: sorted, complete ``__all__`` lists."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["securestore.message", "securestore.keyrings"])
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), n.lower() if n.isupper() else n))
    for item in names:
        assert getattr(module, item).__doc__ or item.isupper()
