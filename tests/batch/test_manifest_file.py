"""``write_manifest``: manifest_csv's bytes, written to an unnamed temporary file a row at a
time (a listing of millions of objects never held), with the MD5 CreateJob pins."""

from __future__ import annotations

import hashlib

import pytest

import securestore.batch_manifest as module
from securestore.batch import ManifestEntry, manifest_csv, write_manifest
from securestore.errors import ConfigurationError

MIXED = [ManifestEntry("b", "a,b/c d\n"), ManifestEntry("b", "x", "v1")]
VERSIONED = [ManifestEntry("b", "k\u00e9", "v1"), ManifestEntry("b", "x", "v2")]


@pytest.mark.parametrize("entries", [MIXED, VERSIONED, MIXED[:1]])
def test_the_same_bytes_as_manifest_csv(entries: list[ManifestEntry]) -> None:
    expected = manifest_csv(entries)
    with write_manifest(iter(entries)) as manifest:
        data = manifest.file.read()
    assert data == expected
    assert manifest.objects == len(entries) and manifest.size == len(expected)
    assert manifest.md5 == hashlib.md5(expected, usedforsecurity=False).hexdigest()


def test_no_entries_and_too_large_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="at least one object"):
        write_manifest([])
    monkeypatch.setattr(module, "MAX_MANIFEST_BYTES", 10)
    with pytest.raises(ConfigurationError, match="larger than one PUT") as caught:
        write_manifest(VERSIONED)
    assert caught.value.hint is not None and "Inventory" in caught.value.hint
