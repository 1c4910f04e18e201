"""How a message's data keys are named to the user (inspect, no-matching-key errors)."""

from __future__ import annotations

import os

from securestore.message.materials import EncryptedDataKey, describe_edks

_LENGTHS = (128).to_bytes(4, "big") + (12).to_bytes(4, "big")


def test_a_raw_aes_key_is_named_without_its_tag_and_iv_lengths_or_iv() -> None:
    edk = EncryptedDataKey("securestore", b"team" + _LENGTHS + os.urandom(12), b"x")
    assert edk.describe() == "securestore team"


def test_a_name_that_only_starts_like_the_callers_key_is_shown_whole() -> None:
    """A name cut at its first unprintable byte would read as the caller's own key."""
    edk = EncryptedDataKey("securestore", b"default\x00-not-your-key" + _LENGTHS + bytes(12), b"")
    assert edk.describe() == "securestore default\x00-not-your-key"
    rsa = EncryptedDataKey("securestore", b"backup\x1b[2K-other", b"")
    assert rsa.describe() == "securestore backup\x1b[2K-other"


def test_a_long_name_is_marked_as_cut() -> None:
    edk = EncryptedDataKey("aws-kms", b"k" * 300, b"")
    assert edk.describe() == "aws-kms " + "k" * 256 + "..."
    assert describe_edks([]) == "none"


def test_bytes_that_are_not_utf8_stay_visible() -> None:
    assert EncryptedDataKey("p", b"a\xffb", b"").describe() == "p a\\xffb"
    assert EncryptedDataKey("aws-kms", b"", b"").describe() == "aws-kms"
