"""A raw AES data key named for this key that does not open says why it may not (review L1)."""

from __future__ import annotations

import os

import pytest

from securestore.errors import NoMatchingKeyError
from securestore.keyrings import (
    DecryptionMaterials,
    EncryptionMaterials,
    MultiKeyring,
    RawAesKeyring,
)
from securestore.message import AlgorithmSuite

SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
KEY = os.urandom(32)


def _edks(context: dict[str, str]) -> list:  # type: ignore[type-arg]
    return list(
        RawAesKeyring("ns", "k", KEY).wrap(EncryptionMaterials(SUITE, context)).encrypted_data_keys
    )


@pytest.mark.parametrize(
    ("key", "context"),
    [(KEY, {"team": "finanCe"}), (os.urandom(32), {"team": "finance"})],
    ids=["changed-context", "other-key-same-name"],
)
def test_a_named_wrap_that_does_not_open_names_both_causes(
    key: bytes, context: dict[str, str]
) -> None:
    edks = _edks({"team": "finance"})
    with pytest.raises(NoMatchingKeyError) as info:
        RawAesKeyring("ns", "k", key).unwrap(DecryptionMaterials(SUITE, context), edks)
    assert info.value.hint is not None
    assert "changed" in info.value.hint and "another key under the same name" in info.value.hint
    # The hint survives a multi-keyring, which is what the CLI builds for several keys.
    with pytest.raises(NoMatchingKeyError) as multi:
        MultiKeyring(
            children=[RawAesKeyring("ns", "other", KEY), RawAesKeyring("ns", "k", key)]
        ).unwrap(DecryptionMaterials(SUITE, context), edks)
    assert multi.value.hint == info.value.hint


def test_a_wrap_for_another_name_gets_no_tampering_hint() -> None:
    edks = _edks({})
    with pytest.raises(NoMatchingKeyError) as info:
        RawAesKeyring("ns", "other", KEY).unwrap(DecryptionMaterials(SUITE, {}), edks)
    assert info.value.hint is None
