"""S3EC content metadata parsing: the rules of docs/format.md § 13 one by one."""

from __future__ import annotations

import base64
import json

import pytest

from securestore.errors import FormatError
from securestore.s3ec.metadata import (
    has_s3ec_metadata,
    needs_instruction_file,
    parse_content_metadata,
    parse_instruction_file,
)

B64 = base64.b64encode(b"k" * 40).decode()
V3 = {
    "x-amz-c": "115",
    "x-amz-3": B64,
    "x-amz-w": "12",
    "x-amz-d": base64.b64encode(b"d" * 28).decode(),
    "x-amz-i": base64.b64encode(b"i" * 28).decode(),
    "x-amz-t": json.dumps({"aws:x-amz-cek-alg": "115"}),
}


def test_v3_parses_and_names_are_case_insensitive() -> None:
    parsed = parse_content_metadata({k.upper(): v for k, v in V3.items()})
    assert (parsed.version, parsed.wrap_alg, parsed.content_cipher) == (3, "kms+context", "115")
    assert parsed.context == {"aws:x-amz-cek-alg": "115"}
    assert parsed.commitment == b"d" * 28


def test_rfc2047_encoded_context_is_decoded() -> None:
    text = json.dumps({"aws:x-amz-cek-alg": "115", "ville": "Zürich"}, ensure_ascii=False)
    encoded = "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="
    assert parse_content_metadata({**V3, "x-amz-t": encoded}).context["ville"] == "Zürich"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x-amz-key": B64}, "mixes format versions"),
        ({"x-amz-wrap-alg": "kms+context"}, "mixes format versions"),
        ({"x-amz-matdesc": "{}"}, "legacy"),
        ({"x-amz-w": "13"}, "wrapping algorithm code"),
        ({"x-amz-3": "not base64!"}, "not base64"),
        ({"x-amz-t": "[1]"}, "not a map of strings"),
        ({"x-amz-t": "{"}, "not JSON"),
    ],
)
def test_malformed_or_mixed_v3_is_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_content_metadata({**V3, **change})


def test_missing_required_mapkey_is_named() -> None:
    without = {k: v for k, v in V3.items() if k != "x-amz-d"}
    with pytest.raises(FormatError, match="x-amz-d"):
        parse_content_metadata(without)


def test_instruction_file_rules() -> None:
    own = {k: V3[k] for k in ("x-amz-c", "x-amz-d", "x-amz-i")}
    assert needs_instruction_file(own) and has_s3ec_metadata(own)
    moved = {k: v for k, v in V3.items() if k not in own}
    assert parse_content_metadata(own, moved).instruction_file
    with pytest.raises(FormatError, match="not JSON"):
        parse_instruction_file(b"{")
    with pytest.raises(FormatError, match="no S3EC writes"):
        parse_instruction_file(json.dumps({"x-amz-3": B64, "owner": "eve"}).encode())
    with pytest.raises(FormatError, match="large"):
        parse_instruction_file(b" " * (64 * 1024 + 1))
    with pytest.raises(FormatError, match="not a string"):
        parse_instruction_file(json.dumps({"x-amz-3": 1}).encode())
    assert not has_s3ec_metadata({"owner": "alice"})
