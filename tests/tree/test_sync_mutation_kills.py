"""``ListedSizes``: when the listing alone may call a client-side object unchanged.

A wrong "unchanged" skips an upload that was needed (the backup stays old), so every
edge of the decision is pinned here as plain data: what ``learn`` ignores, the one
header length it maps with, and the time rules of ``decide``. The end-to-end cases are
in test_sync_listing.py (moto). See docs/mutation.md.
"""

from __future__ import annotations

from securestore.clientside import FORMAT_METADATA, LENGTH_METADATA
from securestore.message.sizes import body_length
from securestore.modes import StoredEncryption
from securestore.objects import ObjectInfo
from securestore.tree.listing import Entry
from securestore.tree.sync import SETTLE_SECONDS, ListedSizes, Rules

FRAME = 64
HEADER = 180  # header bytes other than the object's key (which the context holds once)
T = 1_700_000_000.0


def _info(
    key: str, length: int, *, header: int = HEADER, stored_length: str | None = None
) -> ObjectInfo:
    size = header + len(key) + body_length(length, FRAME)
    meta = {FORMAT_METADATA: "1", LENGTH_METADATA: stored_length or str(length)}
    return ObjectInfo("b", key, size, '"e"', StoredEncryption("AES256"), metadata=meta)


def _listed(key: str, length: int, mtime: float = T) -> Entry:
    return Entry(key, HEADER + len(key) + body_length(length, FRAME), mtime)


def _learnt(*infos: ObjectInfo, rules: Rules | None = None) -> ListedSizes:
    sizes = ListedSizes(FRAME, rules or Rules())
    for info in infos:
        sizes.learn(info.key, info)
    return sizes


def test_one_head_maps_every_listed_size_of_the_same_writer() -> None:
    sizes = _learnt(_info("p/first", 300))
    for length in (0, 1, 63, 64, 65, 1000):
        key = f"p/{'x' * (length % 5)}{length}"
        listed = _listed(key, length)
        assert sizes.plaintext_size(key, listed.size) == length


def test_learn_ignores_what_is_not_our_message() -> None:
    info = _info("p/a", 100)
    foreign = ObjectInfo("b", "p/a", info.size, '"e"', info.encryption, metadata={})
    no_length = ObjectInfo(
        "b", "p/a", info.size, '"e"', info.encryption, metadata={FORMAT_METADATA: "1"}
    )
    length_only = ObjectInfo(
        "b", "p/a", info.size, '"e"', info.encryption, metadata={LENGTH_METADATA: "100"}
    )
    # Learnt with a header of 0 bytes, the size of a bare body would map to its length.
    assert (
        _learnt(_info("p/a", 100, header=0)).plaintext_size("p/b", body_length(10, FRAME)) is None
    )
    for ignored in (
        length_only,
        foreign,
        no_length,
        _info("p/a", 100, stored_length="many"),
        _info("p/a", 100, stored_length="-1"),
        _info("p/a", 100, header=0),  # nothing left for a header
    ):
        assert _learnt(ignored).plaintext_size("p/b", _listed("p/b", 10).size) is None


def test_an_empty_object_teaches_the_header_length_too() -> None:
    sizes = _learnt(_info("p/empty", 0))
    assert sizes.plaintext_size("p/c", _listed("p/c", 30).size) == 30


def test_the_most_common_header_length_is_the_one_used() -> None:
    odd = _info("p/odd", 10, header=HEADER + 7)
    sizes = _learnt(odd, _info("p/a", 10), odd)
    assert sizes.plaintext_size("p/c", _listed("p/c", 30).size) != 30  # the odd one, 2 to 1
    sizes.learn("p/b", _info("p/b", 20))
    sizes.learn("p/d", _info("p/d", 40))
    assert sizes.plaintext_size("p/c", _listed("p/c", 30).size) == 30  # 3 to 2


def test_a_size_that_no_plaintext_gives_maps_to_none() -> None:
    sizes = _learnt(_info("p/a", 100))
    assert sizes.plaintext_size("p/c", HEADER + len("p/c") + 3) is None
    assert sizes.plaintext_size("p/c", 0) is None


def test_decide_unchanged_only_for_the_same_size_settled_before_the_upload() -> None:
    sizes = _learnt(_info("p/a", 100))
    listed = _listed("p/a", 100, mtime=T)
    settled = T - SETTLE_SECONDS
    assert sizes.decide("p/a", Entry("a", 100, settled), listed) is False  # exactly settled
    assert sizes.decide("p/a", Entry("a", 100, settled - 50), listed) is False
    assert sizes.decide("p/a", Entry("a", 100, settled + 0.5), listed) is None  # too recent
    assert sizes.decide("p/a", Entry("a", 101, settled - 50), listed) is None  # other size
    assert sizes.decide("p/a", Entry("a", 99, settled - 50), listed) is None


def test_decide_newer_by_whole_seconds_uploads_without_a_head() -> None:
    sizes = _learnt(_info("p/a", 100))
    listed = _listed("p/a", 100, mtime=T + 0.2)
    assert sizes.decide("p/a", Entry("a", 100, T + 1), listed) is True
    assert sizes.decide("p/a", Entry("a", 5, T + 1), listed) is True  # any size
    # In the same second as the upload: not "newer"; same size but not settled: HEAD it.
    assert sizes.decide("p/a", Entry("a", 100, T + 0.9), listed) is None


def test_size_only_decides_on_the_size_alone_and_exact_timestamps_never() -> None:
    info = _info("p/a", 100)
    size_only = _learnt(info, rules=Rules(size_only=True))
    listed = _listed("p/a", 100, mtime=T)
    assert size_only.decide("p/a", Entry("a", 100, T + 100), listed) is False
    assert size_only.decide("p/a", Entry("a", 101, T + 100), listed) is None
    exact = _learnt(info, rules=Rules(exact_timestamps=True))
    assert exact.decide("p/a", Entry("a", 100, T - 100), listed) is None
    assert exact.decide("p/a", Entry("a", 100, T + 100), listed) is None
