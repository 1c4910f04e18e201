"""Bad CLI input against the TLS endpoint: the exact ``error:`` line, the exit code, no changes.

Every case runs one command and proves that nothing was written or deleted: the
bucket listing (objects, ETags, open multipart uploads, our buckets) and the
local folder tree (files with size, mtime and mode) are the same before and
after. The cases extend the tables in ``tests/cli``; none repeats theirs.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certifi
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore import ClientSide, Connection, RawAesKeyring, SecureStore, SseKms, create_bucket
from securestore.keyrings import generate_aes_key_file, load_aes_key_file
from tests.conftest import Endpoint
from tests.support.cli import cli_runner

PREFIX = "badinput-"
DATA = random.Random(3).randbytes(10_000)


@dataclass
class World:
    """A bucket with one object per mode, key files and a work folder, shared by the cases."""

    root: Path
    names: dict[str, str]
    connection: Connection

    def state(self) -> dict[str, Any]:
        s3 = self.connection.client("s3")
        bucket = self.names["b"]
        objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
        files = {}
        for path in sorted(self.root.rglob("*")):
            info = path.lstat()
            rel = str(path.relative_to(self.root))
            mode = stat.S_IMODE(info.st_mode)
            files[rel] = ("dir", mode) if path.is_dir() else (info.st_size, info.st_mtime_ns, mode)
        return {
            "objects": sorted((o["Key"], o["ETag"], o["Size"]) for o in objects),
            "uploads": [(u["Key"], u["UploadId"]) for u in uploads],
            "buckets": sorted(b for b in buckets if "badinput" in b),
            "files": files,
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, connection: Connection, kms_key: str) -> World:
    root = tmp_path_factory.mktemp("bad-input")
    keys, work = root / "keys", root / "work"
    keys.mkdir()
    (work / "adir").mkdir(parents=True)
    (work / "src.bin").write_bytes(DATA)
    generate_aes_key_file(keys / "team.key")
    generate_aes_key_file(keys / "other.key")
    shutil.copy(keys / "team.key", keys / "exposed.key")
    (keys / "exposed.key").chmod(0o640)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for name, mode in (("rsa.pem", 0o600), ("exposed.pem", 0o640)):
        (keys / name).write_bytes(pem)
        (keys / name).chmod(mode)
    (keys / "rsa.pub.pem").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    bucket = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    create_bucket(connection, bucket)
    other_kms = connection.client("kms").create_key(Description="bad input, other")["KeyMetadata"]
    store = SecureStore(bucket, connection=connection)
    store.put("plain", DATA)
    store.put("kms", DATA, encryption=SseKms(kms_key))
    keyring = RawAesKeyring("securestore", "default", load_aes_key_file(keys / "team.key"))
    store.put("cs", DATA, encryption=ClientSide(keyring, context={"team": "a"}))
    s3 = connection.client("s3")
    body = bytearray(s3.get_object(Bucket=bucket, Key="cs")["Body"].read())
    body[-40] ^= 0x01
    marker = {"securestore-format": "aws-esdk-v2"}
    s3.put_object(Bucket=bucket, Key="tampered", Body=bytes(body), Metadata=marker)
    return World(
        root,
        {
            "b": bucket,
            "missing": f"{PREFIX}missing-{uuid.uuid4().hex[:8]}",
            "keys": str(keys),
            "work": str(work),
            "kms": kms_key,
            "other_kms": other_kms["Arn"],
        },
        connection,
    )


@dataclass(frozen=True)
class Case:
    """One bad input: arguments (``{name}`` placeholders), exit code, ``error:`` line prefix."""

    id: str
    args: tuple[str, ...]
    code: int
    error: str
    env: dict[str, str] = field(default_factory=dict)


def case(id: str, args: str | list[str], code: int, error: str, **env: str) -> Case:
    argv = tuple(args.split()) if isinstance(args, str) else tuple(args)
    return Case(id, argv, code, error, env)


OBJ = "s3://{b}/new"
CASES = [
    # put: sources, pairs, option combinations, key files
    case("put-directory-source", "put {work}/adir " + OBJ, 2, "error: is a directory: {work}/adir"),
    case(
        "put-empty-context-key",
        f"put - {OBJ} --context =v",
        2,
        "error: invalid context '=v': expected KEY=VALUE",
    ),
    case(
        "put-context-twice",
        f"put - {OBJ} --context a=1 --context a=2",
        2,
        "error: context key 'a' given twice",
    ),
    case(
        "put-bad-metadata-name",
        ["put", "-", OBJ, "--metadata", "bad name=x"],
        2,
        "error: invalid metadata name 'bad name': use ASCII letters, digits",
    ),
    case(
        "put-non-ascii-metadata",
        ["put", "-", OBJ, "--metadata", "k=\u00e9"],
        2,
        "error: metadata value of 'k' must be ASCII",
    ),
    case(
        "put-sse-kms-key-id-alone",
        f"put - {OBJ} --sse-kms-key-id {{kms}}",
        2,
        "error: --sse-kms-key-id goes with --client-side; use --kms-key-id",
    ),
    case("put-client-side-without-key", f"put - {OBJ} --client-side", 2, "error: no key given"),
    case(
        "put-reserved-esdk-context",
        f"put - {OBJ} --key-file {{keys}}/team.key --context aws-crypto-x=1",
        2,
        "error: encryption context key 'aws-crypto-x' uses the reserved prefix 'aws-crypto-'",
    ),
    case(
        "put-reserved-location-context",
        f"put - {OBJ} --key-file {{keys}}/team.key --context securestore:key=x",
        2,
        "error: encryption context key 'securestore:key' uses the reserved prefix 'securestore:'",
    ),
    case(
        "put-client-side-sse-s3-with-kms-key",
        f"put - {OBJ} --key-file {{keys}}/team.key --sse s3 --sse-kms-key-id {{kms}}",
        2,
        "error: a KMS key id or context only applies to kms and dsse-kms",
    ),
    case(
        "put-missing-key-file",
        f"put - {OBJ} --key-file {{keys}}/missing.key",
        2,
        "error: cannot open key file {keys}/missing.key: No such file or directory",
    ),
    case(
        "put-private-pem-as-public",
        f"put - {OBJ} --rsa-public-key {{keys}}/rsa.pem",
        2,
        "error: key file {keys}/rsa.pem: not a PEM public key",
    ),
    case(
        "put-empty-kms-key-id",
        ["put", "-", OBJ, "--kms-key-id", ""],
        2,
        "error: an empty --kms-key-id was given (is a variable unset?)",
    ),
    case(
        "put-metadata-with-newline",
        ["put", "-", OBJ, "--metadata", "a=b\nc"],
        2,
        "error: metadata value of 'a' must be ASCII without control characters",
    ),
    case(
        "put-metadata-names-differing-in-case",
        ["put", "-", OBJ, "--metadata", "Team=a", "--metadata", "team=b"],
        2,
        "error: metadata names 'team' and another differ only in case",
    ),
    case(
        "put-missing-bucket",
        "put - s3://{missing}/k",
        4,
        "error: put failed: bucket does not exist (s3://{missing})",
    ),
    case(
        "put-unknown-client-side-kms-key",
        f"put - {OBJ} --client-side --kms-key-id alias/none",
        4,
        "error: KMS GenerateDataKey failed for key alias/none: NotFoundException",
    ),
    # get: exposed and wrong key files, --require mismatches, ranges, destinations
    case(
        "get-exposed-aes-key",
        "get s3://{b}/cs {work}/out --key-file {keys}/exposed.key",
        2,
        "error: key file {keys}/exposed.key is accessible by group or others (mode 640)",
    ),
    case(
        "get-exposed-rsa-key",
        "get s3://{b}/cs --rsa-private-key {keys}/exposed.pem",
        2,
        "error: key file {keys}/exposed.pem is accessible by group or others (mode 640)",
    ),
    case(
        "get-pem-as-aes-key",
        "get s3://{b}/cs --key-file {keys}/rsa.pem",
        2,
        "error: key file {keys}/rsa.pem holds neither base64 nor a raw AES key",
    ),
    case(
        "get-aes-key-as-pem",
        "get s3://{b}/cs --rsa-private-key {keys}/team.key",
        2,
        "error: key file {keys}/team.key: not a readable PEM private key (or wrong password)",
    ),
    case(
        "get-wrong-aes-key",
        "get s3://{b}/cs {work}/out --key-file {keys}/other.key",
        4,
        "error: the data key wrapped for this raw AES key's name does not open with it; the "
        "message was encrypted for: securestore default (s3://{b}/cs)",
    ),
    case(
        "get-require-dsse-on-sse-kms",
        "get s3://{b}/kms {work}/out --require dsse-kms",
        3,
        "error: refusing to read: the object is stored as sse-kms, not dsse-kms (s3://{b}/kms)",
    ),
    case(
        "get-require-other-kms-key",
        "get s3://{b}/kms --require kms --kms-key-id {other_kms}",
        3,
        "error: refusing to read: the object is stored with KMS key {kms}, not {other_kms}",
    ),
    case(
        "get-range-without-dash",
        "get s3://{b}/plain --range 3",
        2,
        "error: invalid range '3': expected START-END",
    ),
    case(
        "get-destination-under-a-file",
        "get s3://{b}/plain {work}/src.bin/out",
        2,
        "error: cannot write to {work}/src.bin",
    ),
    # A key file means the object must decrypt: a plaintext object is never returned raw.
    case(
        "get-key-file-on-unencrypted-object",
        "get s3://{b}/plain {work}/out --key-file {keys}/team.key --context team=a",
        3,
        "error: the object is not a valid client-side message: unsupported message format "
        "version 253",
    ),
    # ls, head, rm, mb
    case(
        "ls-buckets-untrusted-endpoint",
        "ls",
        4,
        "error: list buckets failed: TLS handshake failed",
        AWS_CA_BUNDLE=certifi.where(),  # public roots only: the private CA is unknown
    ),
    case(
        "ls-empty-ca-bundle-variable",
        "ls",
        2,
        "error: AWS_CA_BUNDLE is set but empty",
        AWS_CA_BUNDLE="",
    ),
    case(
        "ls-endpoint-with-a-path",
        "ls",
        2,
        "error: endpoint URL 'https://127.0.0.1:1/prefix' has a path",
        AWS_ENDPOINT_URL="https://127.0.0.1:1/prefix",
    ),
    case("ls-region-with-a-space", "ls", 2, "error: invalid AWS region 'x y'", AWS_REGION="x y"),
    case("ls-other-scheme", "ls gs://bucket", 2, "error: not an s3:// URL: 'gs://bucket'"),
    case("ls-invalid-bucket", "ls s3://Bad_Bucket", 2, "error: invalid bucket name 'Bad_Bucket'"),
    case(
        "ls-missing-bucket",
        "ls s3://{missing}",
        4,
        "error: list failed: bucket does not exist (s3://{missing})",
    ),
    case("head-without-key", "head s3://{b}", 2, "error: no object key in 's3://{b}'"),
    case(
        "head-missing-object",
        "head s3://{b}/missing --json",
        4,
        "error: head failed: no such object (s3://{b}/missing)",
    ),
    case("rm-without-key", "rm s3://{b}/", 2, "error: no object key in 's3://{b}/'"),
    case(
        "rm-missing-bucket",
        "rm s3://{missing}/k",
        4,
        "error: delete failed: bucket does not exist (s3://{missing})",
    ),
    case(
        "mb-with-key", "mb s3://{b}/key", 2, "error: mb takes a bucket, not an object: s3://{b}/key"
    ),
    case(
        "mb-reserved-prefix",
        "mb s3://xn--badinput",
        2,
        "error: invalid bucket name 'xn--badinput': uses a prefix or suffix reserved by S3",
    ),
    # keygen
    case(
        "keygen-both-kinds",
        "keygen --aes {work}/a.key --rsa {work}/r",
        2,
        "error: give exactly one of --aes FILE, --rsa PREFIX or --public-from PEM",
    ),
    case(
        "keygen-weak-rsa",
        "keygen --rsa {work}/r --bits 1024",
        2,
        "error: Invalid value for '--bits': '1024' is not one of '3072', '4096'.",
    ),
    case(
        "keygen-missing-folder",
        "keygen --aes {work}/nowhere/a.key",
        2,
        "error: cannot create {work}/nowhere/a.key: No such file or directory",
    ),
    case(
        "keygen-over-a-directory", "keygen --aes {work}/adir", 2, "error: Invalid value for '--aes'"
    ),
    case(
        "keygen-rsa-overwrite",
        "keygen --rsa {keys}/rsa",
        2,
        "error: {keys}/rsa.pem already exists; refusing to overwrite it",
    ),
    # inspect
    case(
        "inspect-server-side-object",
        "inspect s3://{b}/plain",
        3,
        "error: unsupported message format version",
    ),
    case(
        "inspect-missing-object",
        "inspect s3://{b}/missing",
        4,
        "error: head failed: no such object (s3://{b}/missing)",
    ),
    # audit
    case(
        "audit-output-in-missing-folder",
        "audit {b} --output {work}/nowhere/report.txt",
        2,
        "error: cannot write to {work}/nowhere: No such file or directory",
    ),
    case(
        "audit-nothing-named",
        "audit",
        2,
        "error: name one or more BUCKETs or give --all-buckets, not both",
    ),
    case(
        "audit-both-ways",
        "audit {b} --all-buckets",
        2,
        "error: name one or more BUCKETs or give --all-buckets, not both",
    ),
    case("audit-invalid-bucket", "audit Bad_Bucket", 2, "error: invalid bucket name 'Bad_Bucket'"),
    case(
        "audit-missing-suppressions",
        "audit {b} --suppress {work}/none.json",
        2,
        "error: cannot read suppression file {work}/none.json: No such file or directory",
    ),
    case(
        "audit-unknown-framework",
        "audit {b} --framework nope",
        2,
        "error: Invalid value for '--framework'",
    ),
    case(
        "audit-negative-sample",
        "audit {b} --sample-objects -1",
        2,
        "error: Invalid value for '--sample-objects'",
    ),
]


@pytest.fixture
def cli(tls_endpoint: Endpoint) -> Callable[..., Result]:
    run = cli_runner(tls_endpoint)

    def invoke(args: list[str], env: dict[str, str]) -> Result:
        return run(*args, input=b"would-be object body", **env)

    return invoke


def _check(case: Case, world: World, cli: Callable[..., Result]) -> None:
    args = [arg.format(**world.names) for arg in case.args]
    before = world.state()
    result = cli(args, case.env)
    after = world.state()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == case.code, (result.exit_code, result.stderr)
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(case.error.format(**world.names)), errors[0]
    assert "Traceback" not in result.stderr
    assert result.stdout_bytes == b""
    assert after == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(
    case: Case, world: World, cli: Callable[..., Result]
) -> None:
    _check(case, world, cli)


INTEGRITY = [
    case(
        "get-tampered-object",
        "get s3://{b}/tampered {work}/out --key-file {keys}/team.key --relocated",
        3,
        "error: authentication failed: the object was modified, truncated or encrypted with "
        "another key (s3://{b}/tampered)",
    ),
    case(
        "get-context-mismatch",
        "get s3://{b}/cs --key-file {keys}/team.key --context team=b",
        3,
        "error: the object's encryption context does not have the expected value for 'team' "
        "(s3://{b}/cs)",
    ),
    case(
        "get-unencrypted-object-with-key-file",
        "get s3://{b}/plain --key-file {keys}/team.key",
        3,
        "error: the object is not a valid client-side message: unsupported message format "
        "version 253: an AWS Encryption SDK message starts with byte 0x02 (or 0x01, the old "
        "format), this one with 0xfd (s3://{b}/plain)",
    ),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", INTEGRITY, ids=[c.id for c in INTEGRITY])
def test_integrity_errors_name_the_object(
    case: Case, world: World, cli: Callable[..., Result]
) -> None:
    _check(case, world, cli)


@pytest.mark.timeout(60)
def test_a_range_end_past_the_object_is_clamped(world: World, cli: Callable[..., Result]) -> None:
    result = cli(["get", f"s3://{world.names['b']}/plain", "--range", "5-" + "9" * 25], {})
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == DATA[5:]


def test_the_table_covers_every_command() -> None:
    commands = {c.args[0] for c in CASES}
    assert {"put", "get", "ls", "head", "rm", "mb", "keygen", "inspect", "audit"} <= commands
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)


def test_exposed_key_files_in_the_world_are_really_exposed(world: World) -> None:
    for name in ("exposed.key", "exposed.pem"):
        assert stat.S_IMODE(os.stat(Path(world.names["keys"]) / name).st_mode) == 0o640
