"""A listing that breaks S3's contract is refused before anything acts on it (review rev2 F, G).

A broken or malicious endpoint is simulated by a botocore handler that rewrites
the parsed ListObjectsV2 (or ListObjectVersions, ListMultipartUploads) answer
on a connection of the test's own: that is exactly how such a server looks to
securestore. The honest cases run against moto, with names whose UTF-8 order
differs from UTF-16 and locale orders.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import ClientSide, RawAesKeyring, SecureStore, StorageError
from securestore.tree import remove_tree, sync
from securestore.tree.listing import list_prefix, sort_key, walk_local
from securestore.uploads import abort_uploads
from tests.conftest import Endpoint
from tests.tree.conftest import make_tree, read_tree

KEY = RawAesKeyring("tests", "contract", b"c" * 32)

#: Names whose order differs between UTF-8 bytes, UTF-16 units and locales.
TRICKY = ["a-b", "a.b", "a/b", "a0", "aé", "a\u00ff", "a\U0001f600", "a\uff5e", "B", "a b"]

Rewrite = Callable[[dict[str, Any]], None]


def lying(
    endpoint: Endpoint,
    bucket: str,
    operation: str,
    rewrite: Rewrite,
    *,
    replay: bool = False,
    **kw: Any,
) -> SecureStore:
    """A store whose ``operation`` answers pass through ``rewrite`` (the parsed response).

    ``replay``: the continuation tokens ``rewrite`` invents are not sent to moto (it
    cannot read them), so every page is the first page again.
    """
    connection = endpoint.connection()
    events = connection.client("s3").meta.events

    def handler(parsed: dict[str, Any], **_: Any) -> None:
        if "Error" not in parsed:
            rewrite(parsed)

    def forget(params: dict[str, Any], **_: Any) -> None:
        params.pop("ContinuationToken", None)

    events.register(f"after-call.s3.{operation}", handler)
    if replay:
        events.register(f"before-parameter-build.s3.{operation}", forget)
    return SecureStore(bucket, connection=connection, **kw)


def reverse(parsed: dict[str, Any]) -> None:
    parsed["Contents"] = list(reversed(parsed.get("Contents", [])))


def test_an_honest_listing_of_tricky_names_is_in_the_local_walks_order(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    files = {name: name.encode() for name in TRICKY}
    make_tree(tmp_path / "up", files)
    assert sync(tmp_path / "up", (store, "t/")).ok
    listed = [entry.relative for entry in list_prefix(store, "t/")]
    walked = [entry.relative for entry in walk_local(tmp_path / "up", pytest.fail)]
    assert listed == walked == sorted(TRICKY, key=sort_key)
    again = sync((store, "t/"), tmp_path / "down", delete=True)
    assert again.ok and read_tree(tmp_path / "down") == files
    assert sync(tmp_path / "up", (store, "t/"), delete=True).deleted == 0


def test_a_reversed_listing_deletes_no_local_file_the_bucket_has(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], tmp_path: Path, bucket: str
) -> None:
    # rev2 F: listed [b, a], the merge called the local a "missing at the source"
    # before the listing reached a; the download of a then failed and a was gone.
    writer = make_store(encryption=ClientSide(KEY))
    writer.put("u/a", b"the bucket's a")
    writer.put("u/b", b"the bucket's b")
    make_store().put("u/a", b"not a message: its download fails")  # a damaged a
    down = tmp_path / "down"
    make_tree(down, {"a": b"precious local a, edited"})
    store = lying(tls_endpoint, bucket, "ListObjectsV2", reverse, encryption=ClientSide(KEY))
    with pytest.raises(StorageError, match="not in S3's order") as caught:
        sync((store, "u/"), down, delete=True)
    assert "'u/a'" in str(caught.value) and "u/b" in str(caught.value)
    assert (down / "a").read_bytes() == b"precious local a, edited"


def test_a_reversed_listing_deletes_no_object_an_upload_sync_sends(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], tmp_path: Path, bucket: str
) -> None:
    honest = make_store()
    honest.put("s/b", b"B-old")
    honest.put("s/c", b"C")
    make_tree(tmp_path, {"a": b"A", "b": b"B-new"})
    store = lying(tls_endpoint, bucket, "ListObjectsV2", reverse)
    with pytest.raises(StorageError, match="not in S3's order"):
        sync(tmp_path, (store, "s/"), delete=True)
    kept = [summary.key for summary in honest.list("s/")]
    assert "s/b" in kept and "s/c" in kept  # nothing deleted: the listing was refused


def test_a_listing_that_never_ends_is_refused_after_its_first_replay(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], tmp_path: Path, bucket: str
) -> None:
    # rev2 F repro 2: IsTruncated forever, fresh tokens, the first page again each time.
    honest = make_store()
    for name in ("a", "b", "c"):
        honest.put("p/" + name, name.encode())
    counter = itertools.count()

    def loop(parsed: dict[str, Any]) -> None:
        parsed["IsTruncated"] = True
        parsed["NextContinuationToken"] = f"token-{next(counter)}"

    store = lying(tls_endpoint, bucket, "ListObjectsV2", loop, replay=True)
    with pytest.raises(StorageError, match="not in S3's order"):
        list(store.list("p/"))
    result: list[str] = []
    with pytest.raises(StorageError, match="not in S3's order"):
        sync((store, "p/"), tmp_path, on_event=lambda task, *_: result.append(task.kind))
    assert len(result) <= 3  # each object at most once, never ~200 times


def test_a_truncated_page_without_a_token_is_refused(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], tmp_path: Path, bucket: str
) -> None:
    # botocore ends such a listing silently: sync --delete would delete what it did not see.
    make_store().put("p/a", b"a")
    make_tree(tmp_path, {"a": b"a", "z": b"listed on the page that never came"})

    def cut(parsed: dict[str, Any]) -> None:
        parsed["IsTruncated"] = True
        parsed.pop("NextContinuationToken", None)

    store = lying(tls_endpoint, bucket, "ListObjectsV2", cut)
    with pytest.raises(StorageError, match="truncated but gives no token"):
        sync((store, "p/"), tmp_path, delete=True)
    assert (tmp_path / "z").exists()


def test_a_continuation_token_handed_out_twice_is_refused(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    # Empty pages cycling through two tokens: botocore only sees consecutive repeats.
    tokens = itertools.cycle(["one", "two"])

    def cycle(parsed: dict[str, Any]) -> None:
        parsed["Contents"] = []
        parsed["IsTruncated"] = True
        parsed["NextContinuationToken"] = next(tokens)

    store = lying(tls_endpoint, bucket, "ListObjectsV2", cycle, replay=True)
    with pytest.raises(StorageError, match="handed out twice"):
        list(store.list("p/"))


def outside(key: str) -> Rewrite:
    def add(parsed: dict[str, Any]) -> None:
        contents = parsed.setdefault("Contents", [])
        contents.insert(0, {**contents[0], "Key": key})

    return add


def test_rm_recursive_never_deletes_a_key_outside_the_prefix(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    # rev2 G: the listing of tmp/ also returned important/keep, and rm deleted it.
    honest = make_store()
    honest.put("important/keep", b"keep")
    honest.put("tmp/scratch", b"scratch")
    store = lying(tls_endpoint, bucket, "ListObjectsV2", outside("important/keep"))
    with pytest.raises(StorageError, match="outside the prefix was listed: 'important/keep'"):
        remove_tree(store, "tmp/")
    assert honest.head("important/keep").size == 4


def test_ls_directory_and_versions_listings_check_the_prefix(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    make_store().put("tmp/scratch", b"scratch")
    store = lying(tls_endpoint, bucket, "ListObjectsV2", outside("important/keep"))
    with pytest.raises(StorageError, match="outside the prefix"):
        list(store.list_directory("tmp/"))

    def version_outside(parsed: dict[str, Any]) -> None:
        versions = parsed["Versions"]
        versions.insert(0, {**versions[0], "Key": "important/keep", "VersionId": "v1"})

    store = lying(tls_endpoint, bucket, "ListObjectVersions", version_outside)
    with pytest.raises(StorageError, match="outside the prefix"):
        list(store.list_versions("tmp/"))


def test_a_versions_listing_replaying_a_version_is_refused(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    make_store().put("tmp/scratch", b"scratch")

    def twice(parsed: dict[str, Any]) -> None:
        parsed["Versions"] = parsed["Versions"] * 2

    store = lying(tls_endpoint, bucket, "ListObjectVersions", twice)
    with pytest.raises(StorageError, match="listed twice"):
        list(store.list_versions("tmp/"))


def test_abort_uploads_never_aborts_an_upload_outside_the_prefix(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    s3 = make_store().connection.client("s3")
    kept = s3.create_multipart_upload(Bucket=bucket, Key="important/big")["UploadId"]
    s3.create_multipart_upload(Bucket=bucket, Key="tmp/big")
    connection = tls_endpoint.connection()

    def add(parsed: dict[str, Any], **_: Any) -> None:
        uploads = parsed.setdefault("Uploads", [])
        uploads.insert(0, {**uploads[0], "Key": "important/big", "UploadId": kept})

    connection.client("s3").meta.events.register("after-call.s3.ListMultipartUploads", add)
    with pytest.raises(StorageError, match="outside the prefix"):
        list(abort_uploads(connection, bucket, "tmp/"))
    left = s3.list_multipart_uploads(Bucket=bucket, Prefix="important/").get("Uploads", [])
    assert [upload["UploadId"] for upload in left] == [kept]


def test_a_tree_download_skips_keys_with_control_characters(
    run: Callable[..., Any], make_store: Callable[..., SecureStore], tmp_path: Path, bucket: str
) -> None:
    # rev2 L2: a key's escape sequences would reach every later `ls` of the folder.
    store = make_store()
    for key in ("p/ok", "p/\x1b]0;PWNED\x07title", "p/d\x7fel", "p/sub/\x1b[31mred"):
        store.put(key, b"x")
    for command in ("sync", "cp"):
        down = tmp_path / command
        result = run(
            command, f"s3://{bucket}/p/", str(down), *(["--recursive"] * (command == "cp"))
        )
        assert result.exit_code == 2, result.output
        assert read_tree(down) == {"ok": b"x"}
        assert result.stderr.count("warning: skipped") == 3 and "\x1b" not in result.stderr


def test_a_tree_download_skips_keys_with_c1_or_bidi_controls(
    run: Callable[..., Any], make_store: Callable[..., SecureStore], tmp_path: Path, bucket: str
) -> None:
    """C1's CSI (U+009B) is an escape in terminals that honour UTF-8 C1, and U+202E makes
    ``b\u202eTXT.exe`` read as ``bexe.TXT``: such names are not made locally."""
    store = make_store()
    keys = ("q/ok", "q/d\u009b31mC1", "q/b\u202eTXT.exe", "q/i\u2066x", "q/l\u2028s")
    for key in keys:
        store.put(key, b"x")
    down = tmp_path / "down"
    result = run("sync", f"s3://{bucket}/q/", str(down))
    assert result.exit_code == 2, result.output
    assert read_tree(down) == {"ok": b"x"}
    assert result.stderr.count("warning: skipped") == len(keys) - 1
    assert "\u202e" not in result.stderr and "\u009b" not in result.stderr


def test_decrypt_recursive_skips_names_with_control_characters(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    key = tmp_path / "k.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "fine.txt").write_bytes(b"a")
    (plain / "e\x1b[2Jvil.txt").write_bytes(b"b")
    (plain / "b\u202etxt.exe").write_bytes(b"c")
    vault, out = tmp_path / "vault", tmp_path / "out"
    enc = run("encrypt", str(plain), "-o", str(vault), "--recursive", "--key-file", str(key))
    assert enc.exit_code == 0, enc.output
    dec = run("decrypt", str(vault), "-o", str(out), "--recursive", "--key-file", str(key))
    assert dec.exit_code == 0, dec.output
    assert read_tree(out) == {"fine.txt": b"a"}
    assert dec.stderr.count("warning: skipped") == 2 and "\x1b" not in dec.stderr
