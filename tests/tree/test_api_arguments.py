"""The tree API's arguments: typed signatures and ConfigurationError before anything runs."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from securestore import ConfigurationError, SecureStore
from securestore.tree import Filters, copy_tree, move_tree, remove_bucket, remove_tree


@pytest.mark.parametrize("concurrency", [0, -1, 65, "4", 2.5, True])
def test_a_bad_concurrency_is_a_configuration_error(tmp_path: Path, concurrency: Any) -> None:
    store = SecureStore("never-contacted-bucket")
    with pytest.raises(ConfigurationError, match="concurrency"):
        copy_tree(tmp_path, (store, "p/"), concurrency=concurrency)


@pytest.mark.parametrize(
    "rules",
    [[("exclud", "*")], [("exclude",)], [("exclude", None)], ["exclude"], [("include", 3)]],
)
def test_bad_filter_rules_are_configuration_errors(rules: Any) -> None:
    with pytest.raises(ConfigurationError):
        Filters.of(rules)


def test_move_tree_takes_copy_trees_options_by_name() -> None:
    copy_params = inspect.signature(copy_tree).parameters
    move_params = inspect.signature(move_tree).parameters
    # Spelled out (not **kwargs: Any), so a type checker sees a misspelt option.
    assert not any(p.kind is p.VAR_KEYWORD for p in move_params.values())
    assert list(move_params) == [name for name in copy_params if not name.startswith("_")]
    with pytest.raises(TypeError):
        move_tree("a", "b", dryrn=True)  # type: ignore[call-arg]


@pytest.mark.parametrize("function", [remove_tree, remove_bucket])
def test_removals_are_typed_with_the_store(function: Any) -> None:
    # Postponed annotations: the annotation is the name, no longer Any.
    assert inspect.signature(function).parameters["store"].annotation == "SecureStore"
