"""What is not a keyring is refused where it is given, not at the first put."""

from __future__ import annotations

from typing import Any

import pytest

from securestore import (
    ClientSide,
    ConfigurationError,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
    SseKms,
)

AES = RawAesKeyring("securestore", "default", bytes(32))
NOT_KEYRINGS = [None, "team.key", bytes(32), 3, object()]


@pytest.mark.parametrize("value", NOT_KEYRINGS)
def test_client_side_refuses_what_is_not_a_keyring(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="keyring"):
        ClientSide(value)


@pytest.mark.parametrize("value", ["kms", SseKms, 1])
def test_client_side_refuses_an_sse_that_is_not_a_mode(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="sse="):
        ClientSide(AES, sse=value)


@pytest.mark.parametrize("value", [v for v in NOT_KEYRINGS if v is not None])
def test_multi_keyring_refuses_a_generator_that_is_not_a_keyring(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="generator"):
        MultiKeyring(generator=value)


@pytest.mark.parametrize("children", ["ab", [AES, None], [bytes(32)], None, AES])
def test_multi_keyring_refuses_children_that_are_not_keyrings(children: Any) -> None:
    with pytest.raises(ConfigurationError):
        MultiKeyring(generator=AES, children=children)


def test_keyrings_and_modes_are_accepted() -> None:
    assert ClientSide(MultiKeyring(generator=AES, children=[AES]), sse=SseKms()).keyring


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        (("securestore", "default", "0" * 32), "key"),
        (("securestore", "default", None), "key"),
        (("securestore", "default", [0] * 32), "key"),
        ((1, "default", bytes(32)), "namespace"),
        (("securestore", b"default", bytes(32)), "name"),
    ],
    ids=["key-str", "key-none", "key-list", "namespace-int", "name-bytes"],
)
def test_raw_aes_keyring_names_the_argument_of_the_wrong_type(
    arguments: tuple[Any, ...], argument: str
) -> None:
    # A key given as text was a TypeError from AESGCM; a name that is not a str was kept.
    with pytest.raises(ConfigurationError, match=f"^{argument} must be"):
        RawAesKeyring(*arguments)


def test_raw_aes_keyring_says_how_to_read_a_key_file() -> None:
    with pytest.raises(ConfigurationError) as info:
        RawAesKeyring("securestore", "default", "team.key")  # type: ignore[arg-type]
    assert info.value.hint is not None and "load_aes_key_file" in info.value.hint


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"public_key": b"-----BEGIN PUBLIC KEY-----"}, "public_key"),
        ({"private_key": "k"}, "private_key"),
    ],
)
def test_raw_rsa_keyring_refuses_a_key_that_is_not_a_key_object(
    options: dict[str, Any], argument: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"^{argument} must be"):
        RawRsaKeyring("securestore", "rsa", **options)
