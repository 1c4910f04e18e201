"""What is not a keyring is refused where it is given, not at the first put."""

from __future__ import annotations

from typing import Any

import pytest

from securestore import ClientSide, ConfigurationError, MultiKeyring, RawAesKeyring, SseKms

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
