"""The tree safety rules, each edge asserted (mutation testing found them unasserted).

``_check_overlap`` refuses the copies that destroy or multiply their own source;
``_covered`` keeps what ``sync --delete`` finds below a path the walk could not read.
The end-to-end cases are in test_review_fixes.py (moto); these pin every branch
without a server: a refusal happens before any request. See docs/mutation.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import ConfigurationError, SecureStore
from securestore.tree.paths import Local, Remote
from securestore.tree.planner import _check_overlap
from securestore.tree.plans import _covered

STORE = SecureStore("bucket-a")
OTHER_SPELLING = SecureStore("bucket-a")  # another store (endpoint), the same bucket
OTHER_BUCKET = SecureStore("bucket-b")


def _refused(source: Remote, destination: Remote, **kwargs: bool) -> str:
    with pytest.raises(ConfigurationError) as info:
        _check_overlap(source, destination, **{"move": False, "tree": True, **kwargs})
    return info.value.message


def _allowed(source: Remote | Local, destination: Remote | Local, **kwargs: bool) -> None:
    _check_overlap(source, destination, **{"move": False, "tree": True, **kwargs})


def test_onto_itself_is_refused_for_a_key_and_a_tree_by_bucket_name() -> None:
    for tree in (False, True):
        assert "cannot copy" in _refused(Remote(STORE, "p/"), Remote(STORE, "p/"), tree=tree)
        message = _refused(Remote(STORE, "k"), Remote(OTHER_SPELLING, "k"), move=True, tree=tree)
        assert "cannot move" in message
        assert "onto itself" in message


def test_another_bucket_is_never_an_overlap() -> None:
    _allowed(Remote(STORE, "p/"), Remote(OTHER_BUCKET, "p/"), delete=True)
    _allowed(Remote(STORE, "p/"), Remote(OTHER_BUCKET, "p/sub/"))
    _allowed(Remote(STORE, "p/sub/"), Remote(OTHER_BUCKET, "p/"), delete=True)


def test_a_local_side_is_never_an_overlap() -> None:
    _allowed(Local(Path("p")), Remote(STORE, "p/"), delete=True)
    _allowed(Remote(STORE, "p/"), Local(Path("p")), delete=True)


def test_a_tree_into_a_prefix_inside_itself_is_refused_a_single_key_is_not() -> None:
    assert "inside the source" in _refused(Remote(STORE, "p/"), Remote(STORE, "p/sub/"))
    assert "inside the source" in _refused(Remote(STORE, ""), Remote(STORE, "backup/"))
    # One object copied to a key that begins with its own name overlaps nothing.
    _allowed(Remote(STORE, "p/a"), Remote(STORE, "p/a.bak"), tree=False)
    _allowed(Remote(STORE, "p/"), Remote(STORE, "q/"))
    _allowed(Remote(STORE, "p/sub/"), Remote(STORE, "p/"))  # out of a sub-prefix: fine


def test_sync_delete_into_a_prefix_holding_the_source_is_refused_only_with_delete() -> None:
    message = _refused(Remote(STORE, "p/sub/"), Remote(STORE, "p/"), delete=True)
    assert "--delete would delete the source" in message
    assert "--delete" in _refused(Remote(STORE, "p/"), Remote(STORE, ""), delete=True)
    _allowed(Remote(STORE, "p/sub/"), Remote(STORE, "p/"), delete=False)
    _allowed(Remote(STORE, "p/sub/"), Remote(STORE, "p/"), delete=True, tree=False)
    _allowed(Remote(STORE, "p/"), Remote(STORE, "q/"), delete=True)


def test_covered_keeps_an_unread_path_and_everything_below_it() -> None:
    assert _covered("locked", ["locked"])
    assert _covered("locked/y.txt", ["locked"])
    assert _covered("locked/deep/y.txt", ["locked/"])
    assert _covered("anything", [""])  # the root itself could not be read
    assert _covered("b/x", ["a", "b"])  # any of several


def test_covered_is_not_a_name_prefix_match() -> None:
    assert not _covered("lockedout.txt", ["locked"])
    assert not _covered("locked2/y.txt", ["locked"])
    assert not _covered("open/x.txt", ["locked", "odd"])
    assert not _covered("x", [])
