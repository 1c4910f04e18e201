"""S3's listing contract, rule by rule, on :class:`ListingCheck` itself (plain data).

Written for the mutants of securestore/pagination.py that survived the moto tests of
test_listing_contract.py (docs/mutation.md, stop 20): those lie with whole answers, so
each refusal there may come from another rule. Here every rule is met alone, with the
cases that must still pass next to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from securestore.errors import StorageError
from securestore.pagination import ListingCheck, order_key

VERSION_TOKENS = ("NextKeyMarker", "NextVersionIdMarker")


def refused(match: str) -> Any:
    return pytest.raises(StorageError, match=match)


def keys(check: ListingCheck, *listed: str | tuple[str, str]) -> None:
    for entry in listed:
        key, detail = (entry, "") if isinstance(entry, str) else entry
        check.key(key, detail)


# --- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", [{}, {"NextContinuationToken": None}, {"NextContinuationToken": ""}]
)
def test_a_truncated_page_without_any_token_is_refused(token: dict[str, Any]) -> None:
    with refused("marked truncated but gives no token"):
        ListingCheck("b", "p/").page({"IsTruncated": True, **token})


def test_a_last_page_needs_no_token_and_may_repeat_nothing() -> None:
    check = ListingCheck("b", "p/")
    for _ in range(3):  # the final page of several listings: never a token to judge
        check.page({"IsTruncated": False})
        check.page({})


def test_each_truncated_page_carries_a_token_never_seen_before() -> None:
    check = ListingCheck("b", "p/")
    check.page({"IsTruncated": True, "NextContinuationToken": "one"})
    check.page({"IsTruncated": True, "NextContinuationToken": "two"})
    with refused("'one' was handed out twice"):
        check.page({"IsTruncated": True, "NextContinuationToken": "one"})


def test_a_version_token_is_both_markers_together() -> None:
    check = ListingCheck("b", "p/", tokens=VERSION_TOKENS, repeats=True)
    # The key marker alone is a token (a version listing between keys)...
    check.page({"IsTruncated": True, "NextKeyMarker": "p/a"})
    # ...and the same key marker with a version marker is another one.
    check.page({"IsTruncated": True, "NextKeyMarker": "p/a", "NextVersionIdMarker": "v1"})
    check.page({"IsTruncated": True, "NextKeyMarker": "p/a", "NextVersionIdMarker": "v2"})
    with refused("handed out twice"):
        check.page({"IsTruncated": True, "NextKeyMarker": "p/a", "NextVersionIdMarker": "v1"})
    with refused("no token"):
        check.page({"IsTruncated": True, "NextKeyMarker": "", "NextVersionIdMarker": None})


# --- keys -----------------------------------------------------------------------------------


def test_every_key_starts_with_the_prefix() -> None:
    keys(ListingCheck("b", "p/"), "p/", "p/a", "p/b/c")
    with refused("outside the prefix was listed: 'q/a'"):
        keys(ListingCheck("b", "p/"), "p/a", "q/a")
    with refused("outside the prefix"):
        keys(ListingCheck("b", "p/"), "p")  # the prefix without its slash is outside it
    keys(ListingCheck("b", ""), "a", "z/z")  # the whole bucket: any key


def test_keys_strictly_increase_in_utf8_byte_order() -> None:
    # U+FF5E sorts before U+1F600 in UTF-8 (EF.. < F0..) though after it in UTF-16 units.
    keys(ListingCheck("b", ""), "B", "a", "a-b", "a/b", "a\uff5e", "a\U0001f600")
    with refused("not in S3's order"):
        keys(ListingCheck("b", ""), "a", "B")
    with refused("not in S3's order"):
        keys(ListingCheck("b", ""), "a\U0001f600", "a\uff5e")


def test_a_key_listed_twice_is_refused_where_keys_may_not_repeat() -> None:
    with refused("'a' came after 'a'"):
        keys(ListingCheck("b", ""), "a", "a")
    with refused("not in S3's order"):
        keys(ListingCheck("b", ""), ("a", "v1"), ("a", "v2"))  # details do not matter


def test_versions_of_one_key_repeat_it_each_with_its_own_id() -> None:
    check = ListingCheck("b", "", tokens=VERSION_TOKENS, repeats=True)
    keys(check, ("a", "v1"), ("a", "v2"), ("a", "v3"), ("b", "v1"), ("b", "v2"))
    with refused("'v1' of this key was listed twice: 'b'"):
        keys(check, ("b", "v1"))


def test_a_version_id_is_judged_against_every_earlier_version_of_the_key() -> None:
    with refused("'v1' of this key was listed twice"):
        keys(
            ListingCheck("b", "", tokens=VERSION_TOKENS, repeats=True),
            ("a", "v1"),
            ("a", "v2"),
            ("a", "v1"),
        )


def test_repeats_still_need_the_order_between_keys() -> None:
    check = ListingCheck("b", "", tokens=VERSION_TOKENS, repeats=True)
    keys(check, ("b", "v1"))
    with refused("not in S3's order"):
        keys(check, ("a", "v1"))


def test_the_refusal_names_bucket_prefix_and_code() -> None:
    with pytest.raises(StorageError) as info:
        keys(ListingCheck("bucket-x", "p/"), "q")
    assert info.value.bucket == "bucket-x"
    assert info.value.code == "InvalidListing"
    assert "prefix 'p/'" in str(info.value) and "'q'" in str(info.value)
    with pytest.raises(StorageError, match="the whole bucket"):
        keys(ListingCheck("bucket-x", ""), "b", "a")


def test_order_key_is_the_utf8_bytes_also_of_undecodable_names() -> None:
    assert order_key("a\u00e9") == b"a\xc3\xa9"
    assert order_key("a\udcff") == b"a\xff"  # a name that was not UTF-8 locally
