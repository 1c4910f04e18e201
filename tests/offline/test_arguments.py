"""The offline calls check their arguments when called: nothing opened, created or wrapped.

Before, ``encrypt_file(..., keyring=None)`` was an AttributeError (after the partial
output file was created), ``decrypt_file`` with no keyring read the source and called
it "not a message", and ``encrypt_tree``/``decrypt_tree`` (generators) checked
nothing until their first ``next()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from securestore import ConfigurationError, LocalFileError, RawAesKeyring
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
)
from securestore.offline import decrypt_file, decrypt_tree, encrypt_file, encrypt_tree

AES = RawAesKeyring("securestore", "default", bytes(range(32)))


class CountingKeyring:
    """A real AES keyring that counts how often it is asked (a KMS keyring's calls)."""

    def __init__(self) -> None:
        self.calls = 0

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.calls += 1
        return AES.wrap(materials)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        self.calls += 1
        return AES.unwrap(materials, encrypted_data_keys)


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    source = tmp_path / "plain.txt"
    source.write_bytes(b"hello")
    return source


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("keyring", [None, "team.key", bytes(32)], ids=["none", "str", "bytes"])
@pytest.mark.parametrize("call", [encrypt_file, decrypt_file])
def test_what_is_not_a_keyring_is_refused_before_any_file(
    plain: Path, keyring: Any, call: Any
) -> None:
    with pytest.raises(ConfigurationError, match="keyring must be a keyring"):
        call(plain, plain.parent / "out", keyring)
    assert _names(plain.parent) == ["plain.txt"]


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"frame_length": 0}, "frame_length"),
        ({"frame_length": "4096"}, "frame_length"),
        ({"max_data_keys": 0}, "max_data_keys"),
        ({"context": {"aws-crypto-public-key": "x"}}, "aws-crypto-"),
        ({"context": {"team": 1}}, "string"),
        ({"context": "team=a"}, "context"),
        ({"suite": 0x0478}, "suite"),
        ({"overwrite_readonly": "no"}, "overwrite_readonly"),
    ],
)
def test_encrypt_options_are_refused_before_the_keyring_is_asked(
    plain: Path, options: dict[str, Any], argument: str
) -> None:
    keyring = CountingKeyring()
    with pytest.raises(ConfigurationError, match=argument):
        encrypt_file(plain, plain.parent / "out", keyring, **options)
    assert keyring.calls == 0
    assert _names(plain.parent) == ["plain.txt"]


@pytest.mark.parametrize("call", [encrypt_file, decrypt_file])
def test_a_source_or_destination_of_the_wrong_type(plain: Path, call: Any) -> None:
    with pytest.raises(ConfigurationError, match="source must be a path"):
        call(None, plain.parent / "out", AES)
    with pytest.raises(ConfigurationError, match="destination must be a path"):
        call(plain, None, AES)
    assert _names(plain.parent) == ["plain.txt"]


def _tree(tmp_path: Path) -> Path:
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.txt").write_bytes(b"a")
    return source


@pytest.mark.parametrize("call", [encrypt_tree, decrypt_tree])
@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"keyring": None}, ConfigurationError),
        ({"suffix": ""}, ConfigurationError),
        ({"suffix": 3}, ConfigurationError),
        ({"on_skip": "print"}, ConfigurationError),
        ({"max_data_keys": -1}, ConfigurationError),
        ({"source": None}, ConfigurationError),
        ({"source": "missing-folder"}, LocalFileError),
        ({"destination": "in/inside"}, LocalFileError),
    ],
)
def test_the_tree_calls_check_when_called_not_at_the_first_next(
    tmp_path: Path, call: Any, arguments: dict[str, Any], error: type[Exception]
) -> None:
    source = _tree(tmp_path)
    given: dict[str, Any] = {"source": source, "destination": tmp_path / "out", "keyring": AES}
    for name, value in arguments.items():
        given[name] = tmp_path / value if name in ("source", "destination") and value else value
    with pytest.raises(error):
        call(**given)  # no next(): the call itself refuses
    assert _names(tmp_path) == ["in"]


def test_the_tree_calls_are_still_lazy(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    entries = encrypt_tree(source, tmp_path / "enc", AES)
    assert not (tmp_path / "enc").exists()  # nothing written before the first next()
    assert [e.destination.name for e in entries] == ["a.txt.encrypted"]
    restored = decrypt_tree(tmp_path / "enc", tmp_path / "dec", AES)
    assert [e.destination.read_bytes() for e in restored] == [b"a"]
