"""``securestore uploads ls|abort``: incomplete multipart uploads, by prefix and age."""

from __future__ import annotations

import datetime
import json

import pytest
from securestore_cli.uploads import parse_age

from securestore import ConfigurationError, Connection
from securestore.uploads import abort_uploads, list_uploads
from tests.support.cli import Run


def start(connection: Connection, bucket: str, key: str) -> str:
    upload_id: str = connection.client("s3").create_multipart_upload(
        Bucket=bucket, Key=key, ServerSideEncryption="AES256"
    )["UploadId"]
    return upload_id


def open_ids(connection: Connection, bucket: str) -> set[str]:
    return {upload.upload_id for upload in list_uploads(connection, bucket)}


def test_ls_lists_uploads_under_a_prefix(run: Run, connection: Connection, bucket: str) -> None:
    a = start(connection, bucket, "backup/a.bin")
    b = start(connection, bucket, "other/b.bin")
    result = run("uploads", "ls", f"s3://{bucket}/backup/")
    assert result.exit_code == 0, result.stderr
    assert "backup/a.bin" in result.stdout and a in result.stdout
    assert b not in result.stdout
    items = json.loads(run("uploads", "ls", f"s3://{bucket}", "--json").stdout)
    assert {(i["key"], i["upload_id"]) for i in items} == {("backup/a.bin", a), ("other/b.bin", b)}
    assert all(i["initiated"] for i in items)
    assert json.loads(run("uploads", "ls", f"s3://{bucket}/none/", "--json").stdout) == []


def test_abort_dryrun_changes_nothing(run: Run, connection: Connection, bucket: str) -> None:
    upload = start(connection, bucket, "k")
    result = run("uploads", "abort", f"s3://{bucket}", "--dryrun")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"(dryrun) abort: s3://{bucket}/k ({upload})")
    assert open_ids(connection, bucket) == {upload}


def test_abort_by_prefix(run: Run, connection: Connection, bucket: str) -> None:
    doomed = start(connection, bucket, "tmp/x")
    kept = start(connection, bucket, "keep/y")
    result = run("uploads", "abort", f"s3://{bucket}/tmp/", "--json")
    assert result.exit_code == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert [(o["upload_id"], o["aborted"]) for o in outcomes] == [(doomed, True)]
    assert open_ids(connection, bucket) == {kept}


def test_abort_older_than_keeps_recent_uploads(
    run: Run, connection: Connection, bucket: str
) -> None:
    upload = start(connection, bucket, "fresh")
    # Younger than 1,900 years whatever the server reports as its start: kept.
    recent = run("uploads", "abort", f"s3://{bucket}", "--older-than", "100000w")
    assert recent.exit_code == 0, recent.stderr
    assert recent.stderr == ""
    assert open_ids(connection, bucket) == {upload}
    # The age is measured from the start the server reports, on a clock we set.
    (listed,) = list_uploads(connection, bucket)
    assert listed.initiated is not None
    week = datetime.timedelta(days=7)
    younger = listed.initiated + datetime.timedelta(days=6)
    assert list(abort_uploads(connection, bucket, older_than=week, now=younger)) == []
    assert open_ids(connection, bucket) == {upload}
    older = listed.initiated + datetime.timedelta(days=8)
    outcomes = list(abort_uploads(connection, bucket, older_than=week, now=older))
    assert [(o.upload.upload_id, o.aborted) for o in outcomes] == [(upload, True)]
    assert open_ids(connection, bucket) == set()


def test_cli_older_than_zero_aborts(run: Run, connection: Connection, bucket: str) -> None:
    upload = start(connection, bucket, "any")
    result = run("uploads", "abort", f"s3://{bucket}", "--older-than", "0s")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"abort: s3://{bucket}/any ({upload})\n"
    assert open_ids(connection, bucket) == set()


def test_abort_of_a_vanished_upload_is_already_gone(connection: Connection, bucket: str) -> None:
    from securestore.bucket import BucketAccess
    from securestore.transfer import TransferConfig
    from securestore.uploads import MultipartUpload, _abort

    upload = MultipartUpload(bucket, "k", "no-such-upload-id", None)
    outcome = _abort(BucketAccess(bucket, connection, TransferConfig()), upload)
    assert outcome.already_gone and not outcome.aborted and outcome.error is None


def test_missing_bucket_is_exit_four(run: Run) -> None:
    for args in (["ls"], ["abort"]):
        result = run("uploads", *args, "s3://no-such-bucket-cliux-0002")
        assert result.exit_code == 4
        assert result.stderr.startswith("error:")


@pytest.mark.parametrize("bad", ["7", "d", "-1d", "7 days", "1y", ""])
def test_bad_ages_are_usage_errors(run: Run, bucket: str, bad: str) -> None:
    result = run("uploads", "abort", f"s3://{bucket}", "--older-than", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid age")


def test_ages() -> None:
    assert parse_age("30m") == datetime.timedelta(minutes=30)
    assert parse_age("12h") == datetime.timedelta(hours=12)
    assert parse_age("2w") == datetime.timedelta(days=14)
    with pytest.raises(ConfigurationError):
        list(abort_uploads(Connection(region="us-east-1"), "b", older_than=-datetime.timedelta(1)))


def test_keys_and_ids_from_the_server_are_escaped(
    run: Run, connection: Connection, bucket: str
) -> None:
    start(connection, bucket, "evil\u202etxt.exe")
    out = run("uploads", "ls", f"s3://{bucket}").stdout
    assert "\u202e" not in out and "evil\\u202etxt.exe" in out


def test_local_endpoint_lists_uploads_in_s3_order(
    run: Run, connection: Connection, bucket: str
) -> None:
    # Started out of key order: moto alone answers in creation order, which the
    # listing guard refuses (exit 4, and abort stops after the first upload).
    late = start(connection, bucket, "zz")
    first = start(connection, bucket, "\u00e9")  # UTF-8 C3 A9: after "zz" in byte order
    aa_one = start(connection, bucket, "aa")
    aa_two = start(connection, bucket, "aa")
    listed = run("uploads", "ls", f"s3://{bucket}", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [(i["key"], i["upload_id"]) for i in json.loads(listed.stdout)] == [
        ("aa", aa_one),
        ("aa", aa_two),
        ("zz", late),
        ("\u00e9", first),
    ]
    aborted = run("uploads", "abort", f"s3://{bucket}", "--json")
    assert aborted.exit_code == 0, aborted.stderr
    assert [o["upload_id"] for o in json.loads(aborted.stdout)] == [aa_one, aa_two, late, first]
    assert open_ids(connection, bucket) == set()


def test_a_prefix_without_slash_names_a_key_or_folder(
    run: Run, connection: Connection, bucket: str
) -> None:
    # s3://b/tmp: the key tmp and the folder tmp/, never tmpx/... nor tmp-a (a text prefix).
    ours = {start(connection, bucket, key) for key in ("tmp", "tmp/x")}
    theirs = {start(connection, bucket, key) for key in ("tmp-a", "tmpx/y", "tmq")}
    listed = run("uploads", "ls", f"s3://{bucket}/tmp", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert {i["upload_id"] for i in json.loads(listed.stdout)} == ours
    result = run("uploads", "abort", f"s3://{bucket}/tmp", "--json")
    assert result.exit_code == 0, result.stderr
    assert {o["upload_id"] for o in json.loads(result.stdout) if o["aborted"]} == ours
    assert open_ids(connection, bucket) == theirs
    # A trailing slash is a folder; the library's default stays S3's text prefix.
    assert {u.key for u in list_uploads(connection, bucket, "tmp")} == {"tmp-a", "tmpx/y"}
    assert run("uploads", "ls", f"s3://{bucket}/tmp/", "--json").stdout.strip() == "[]"


def test_key_or_folder_bounds() -> None:
    from securestore.location import key_or_folder

    assert [k for k in ("tmp", "tmp/x", "tmp-a", "tmpx", "tm") if key_or_folder("tmp", k)] == [
        "tmp",
        "tmp/x",
    ]
    assert key_or_folder("", "any") and key_or_folder("d/", "d/x") and not key_or_folder("d/", "d")


def test_the_local_endpoint_reports_when_an_upload_started(
    run: Run, connection: Connection, bucket: str
) -> None:
    # moto answers 2010-11-10 for every upload: --older-than 1h aborted a fresh one.
    before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    upload = start(connection, bucket, "fresh")
    (listed,) = list_uploads(connection, bucket)
    assert listed.initiated is not None
    assert before <= listed.initiated <= before + datetime.timedelta(minutes=5)
    kept = run("uploads", "abort", f"s3://{bucket}", "--older-than", "1h")
    assert kept.exit_code == 0, kept.stderr
    assert open_ids(connection, bucket) == {upload}


def test_ls_reads_a_text_prefix_uploads_a_key_or_folder(
    run: Run, connection: Connection, bucket: str
) -> None:
    """The same URL, two readings (README, `uploads --help`): aws-cli's for ls, ours for uploads."""
    s3 = connection.client("s3")
    for key in ("tmp/a", "tmp-a", "tmpx/y"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="AES256")
        start(connection, bucket, key)
    listed = run("ls", f"s3://{bucket}/tmp")
    assert listed.exit_code == 0, listed.stderr
    assert sorted(line.split()[-1] for line in listed.stdout.splitlines()) == [
        "tmp-a",
        "tmp/",
        "tmpx/",
    ]
    uploads = run("uploads", "ls", f"s3://{bucket}/tmp", "--json")
    assert [i["key"] for i in json.loads(uploads.stdout)] == ["tmp/a"]
    assert "text prefix" in run("uploads", "--help").stdout
