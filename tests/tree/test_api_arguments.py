"""The tree API's arguments: typed signatures and ConfigurationError before anything runs."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from securestore import ConfigurationError, SecureStore
from securestore.tree import (
    Filters,
    TreeOptions,
    copy_file,
    copy_tree,
    move_tree,
    remove_bucket,
    remove_tree,
    sync,
)


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


_STORE = SecureStore("never-contacted-bucket")


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda p: copy_file(None, (_STORE, "k")), "a side must be"),
        (lambda p: copy_file(p, 3), "a side must be"),
        (lambda p: copy_file(p, (_STORE, "k"), options="x"), "options must be a TreeOptions"),
        (lambda p: copy_file(p, (_STORE, "k"), progress=3), "progress must be callable"),
        (lambda p: copy_tree(p, (_STORE, "p/"), options={"a": 1}), "options"),
        (lambda p: copy_tree(p, (_STORE, "p/"), filters=[("exclude", "*")]), "Filters.of"),
        (lambda p: move_tree(p, (_STORE, "p/"), on_event="print"), "on_event"),
        (lambda p: sync(p, None), "a side must be"),
        (lambda p: remove_tree(_STORE, 3), "prefix must be a str"),
        (lambda p: remove_tree("bucket", "p/"), "store must be a SecureStore"),
        (lambda p: remove_bucket("bucket"), "store must be a SecureStore"),
        (lambda p: TreeOptions(encryption="kms"), "encryption must be an encryption mode"),
        (lambda p: TreeOptions(require="sse-s3"), "require must be an encryption mode"),
        (lambda p: TreeOptions(metadata="a=b"), "metadata"),
        (lambda p: TreeOptions(attributes="STANDARD"), "attributes"),
        (lambda p: TreeOptions(allow_plaintext="no"), "allow_plaintext"),
        (lambda p: copy_tree(p, (_STORE, "p/"), dryrun="no"), "dryrun"),
        (lambda p: sync(p, (_STORE, "p/"), delete="no"), "delete"),
        (lambda p: remove_bucket(_STORE, force="no"), "force"),
    ],
)
def test_tree_calls_name_the_argument_of_the_wrong_type(
    tmp_path: Path, call: Any, argument: str
) -> None:
    # Each was an AttributeError or TypeError from deep inside the job.
    with pytest.raises(ConfigurationError) as info:
        call(tmp_path)
    assert argument in str(info.value) + str(info.value.hint)
    assert list(tmp_path.iterdir()) == []
