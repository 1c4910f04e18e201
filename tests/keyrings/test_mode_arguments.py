"""Modes and TransferConfig name the field of the wrong type where they are built.

Each was an AttributeError or TypeError (``SseKms(3)``: no ``strip``;
``ClientSide(k, frame_length="4096")``: a comparison of int and str), or accepted
(``TransferConfig(concurrency=2.5)``, ``SseKms(bucket_key="no")``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from securestore import (
    ClientSide,
    ConfigurationError,
    DsseKms,
    RawAesKeyring,
    SseKms,
    TransferConfig,
)

AES = RawAesKeyring("securestore", "default", bytes(32))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: SseKms(3), "key_id"),
        (lambda: DsseKms(b"alias/x"), "key_id"),
        (lambda: SseKms("k", context="team=a"), "context"),
        (lambda: SseKms("k", bucket_key="no"), "bucket_key"),
        (lambda: ClientSide(AES, frame_length="4096"), "frame_length"),
        (lambda: ClientSide(AES, context="team=a"), "context"),
        (lambda: ClientSide(AES, max_data_keys="3"), "max_data_keys"),
        (lambda: ClientSide(AES, policy="committing"), "policy"),
        (lambda: ClientSide(AES, limits={"max_frame_length": 1}), "limits"),
        (lambda: ClientSide(AES, cache=True), "cache"),
        (lambda: TransferConfig(part_size="8MiB"), "part_size"),
        (lambda: TransferConfig(concurrency=2.5), "concurrency"),
        (lambda: TransferConfig(read_retries=None), "read_retries"),
        (lambda: TransferConfig(stream_growth_every="2"), "stream_growth_every"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(build: Callable[[], Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{field} must be"):
        build()


def test_the_right_types_still_build() -> None:
    assert ClientSide(AES, sse=SseKms("alias/x", context={"a": "b"}), frame_length=4096)
    assert TransferConfig(part_size=5 * 2**20, concurrency=2).concurrency == 2
