"""The generated identity policies, enforced by an IAM evaluator that is not ours.

moto checks every request against the caller's IAM policies once its
``INITIAL_NO_AUTH_ACTION_COUNT`` mechanism is switched on (see
``tests/support/iam_endpoint_server.py``). Each test creates a user whose only
policy is the generated one, then runs every call the library makes for the
mode and access, and calls outside them, as that user.

What moto's enforcement cannot express, and how the test adapts:

* Conditions: moto evaluates only ``sts:ExternalId``; any other condition makes
  a statement deny. Allow statements are therefore given without conditions
  (``s3:prefix``, ``kms:ViaService``, ``kms:EncryptionContext:*`` are checked by
  the structural tests in ``test_generate.py`` instead).
* KMS resources: moto authorises KMS calls against the resource ``*``, so KMS
  statements name ``*`` here. Action sets are still enforced exactly.
"""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection, SecureStore
from securestore.clientside import ClientSide
from securestore.errors import AccessDeniedError, KeyUnavailableError, SecureStoreError
from securestore.iam_policy import Access, Mode, PolicyRequest, generate
from securestore.keyrings import AwsKmsKeyring
from securestore.modes import DsseKms, SseKms, SseS3
from securestore.store import create_bucket
from securestore.transfer import TransferConfig
from tests.support.endpoints import endpoint_connection, endpoint_process

SMALL = TransferConfig(part_size=5 * 1024 * 1024, concurrency=2)
BIG = b"m" * (11 * 1024 * 1024)  # three parts: the multipart path


class Endpoint:
    """A TLS endpoint whose IAM enforcement is switched from the test."""

    def __init__(self, proc: subprocess.Popen[str], env: dict[str, str]) -> None:
        self.proc = proc
        self.env = env

    def _command(self, text: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def enforce(self) -> None:
        self._command("enforce")

    def relax(self) -> None:
        self._command("relax")

    def connection(self, key_id: str, secret: str) -> Connection:
        env = {
            **self.env,
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
        }
        return endpoint_connection(env, max_attempts=1)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    state = tmp_path_factory.mktemp("iam-endpoint")
    with endpoint_process(
        "tests.support.iam_endpoint_server", state, what="the IAM-enforcing endpoint"
    ) as (proc, env):
        yield Endpoint(proc, env)


@pytest.fixture(scope="module")
def root(endpoint: Endpoint) -> Connection:
    return endpoint.connection(
        endpoint.env["AWS_ACCESS_KEY_ID"], endpoint.env["AWS_SECRET_ACCESS_KEY"]
    )


def _moto_form(document: dict[str, Any]) -> dict[str, Any]:
    """The policy as moto can enforce it (see the module docstring)."""
    statements = []
    for statement in document["Statement"]:
        statement = {k: v for k, v in statement.items() if k != "Condition"}
        actions = (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
        if all(a.startswith("kms:") for a in actions):
            statement["Resource"] = "*"
        statements.append(statement)
    return {"Version": document["Version"], "Statement": statements}


def _user_with(root: Connection, endpoint: Endpoint, policy: dict[str, Any]) -> Connection:
    iam = root.client("iam")
    name = f"securestore-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="generated", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return endpoint.connection(key["AccessKeyId"], key["SecretAccessKey"])


Setup = Callable[[Mode, Access], tuple[SecureStore, SecureStore]]


@pytest.fixture
def world(root: Connection, endpoint: Endpoint) -> Iterator[Setup]:
    """Builds (store as the generated user, store as root) on a fresh bucket and key;
    IAM enforcement is on from then until the test ends."""

    def setup(mode: Mode, access: Access) -> tuple[SecureStore, SecureStore]:
        bucket = f"iam-{uuid.uuid4().hex[:12]}"
        create_bucket(root, bucket)
        key = None
        if mode is not Mode.SSE_S3:
            key = root.client("kms").create_key()["KeyMetadata"]["Arn"]
        request = PolicyRequest(
            bucket, mode, region="us-east-1", prefix="p/", kms_key_arn=key, access=access
        )
        user = _user_with(root, endpoint, _moto_form(generate(request).identity_policy))

        def store(connection: Connection) -> SecureStore:
            if mode is Mode.SSE_S3:
                encryption: Any = SseS3()
            elif mode is Mode.SSE_KMS:
                encryption = SseKms(key)
            elif mode is Mode.DSSE_KMS:
                encryption = DsseKms(key)
            else:
                encryption = ClientSide(AwsKmsKeyring(key, client=connection.client("kms")))
            return SecureStore(bucket, encryption=encryption, connection=connection, transfer=SMALL)

        admin = store(root)
        # Objects the user may only read, and one outside the prefix.
        admin.put("p/existing", b"existing object")
        admin.put("q/outside", b"outside the prefix")
        endpoint.enforce()
        return store(user), admin

    try:
        yield setup
    finally:
        endpoint.relax()


def _writes(store: SecureStore, tmp_path: Path) -> None:
    store.put("p/small", b"small object")
    store.put("p/big", io.BytesIO(BIG))  # multipart, of unknown length
    source = tmp_path / "upload.bin"
    source.write_bytes(BIG)
    store.upload_file(source, "p/file")
    store.delete("p/small")


def _reads(store: SecureStore, tmp_path: Path) -> None:
    assert store.get("p/existing") == b"existing object"
    with store.open("p/existing") as handle:
        handle.seek(9)
        assert handle.read(6) == b"object"
    store.download_file("p/existing", tmp_path / "down.bin")
    assert (tmp_path / "down.bin").read_bytes() == b"existing object"
    assert "p/existing" in [o.key for o in store.list("p/")]
    assert store.head("p/existing").size > 0


@pytest.mark.parametrize("mode", list(Mode))
def test_read_write_policy_allows_every_call_of_the_store(
    world: Setup, mode: Mode, tmp_path: Path
) -> None:
    user, _ = world(mode, Access.READ_WRITE)
    _writes(user, tmp_path)
    _reads(user, tmp_path)
    assert user.get("p/big") == BIG
    assert user.get("p/file") == BIG


@pytest.mark.parametrize("mode", list(Mode))
def test_read_write_policy_stops_at_the_prefix(world: Setup, mode: Mode) -> None:
    user, _ = world(mode, Access.READ_WRITE)
    with pytest.raises(AccessDeniedError):
        user.put("q/new", b"outside")
    with pytest.raises(AccessDeniedError):
        user.get("q/outside")
    with pytest.raises(AccessDeniedError):
        user.delete("q/outside")


@pytest.mark.parametrize("mode", list(Mode))
def test_read_only_policy_reads_and_cannot_write_or_delete(
    world: Setup, mode: Mode, tmp_path: Path
) -> None:
    user, _ = world(mode, Access.READ_ONLY)
    _reads(user, tmp_path)
    with pytest.raises(SecureStoreError) as raised:
        user.put("p/new", b"no")
    # S3 refuses the PUT; client-side, KMS refuses the data key before any S3 call.
    assert isinstance(raised.value, AccessDeniedError | KeyUnavailableError), raised.value
    with pytest.raises(AccessDeniedError):
        user.delete("p/existing")


@pytest.mark.parametrize("mode", list(Mode))
def test_write_only_policy_writes_and_cannot_read(
    world: Setup, endpoint: Endpoint, mode: Mode, tmp_path: Path
) -> None:
    user, admin = world(mode, Access.WRITE_ONLY)
    _writes(user, tmp_path)
    with pytest.raises(SecureStoreError):
        user.get("p/existing")
    # What the user wrote is there and correct (read back by the owner).
    endpoint.relax()
    assert admin.get("p/big") == BIG


def _without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    for statement in policy["Statement"]:
        if isinstance(statement["Action"], list) and action in statement["Action"]:
            statement["Action"].remove(action)
    policy["Statement"] = [st for st in policy["Statement"] if st["Action"]]
    return policy


def _orphaned_uploads(root: Connection, bucket: str) -> list[str]:
    answer = root.client("s3").list_multipart_uploads(Bucket=bucket)
    return [u["Key"] for u in answer.get("Uploads", [])]


@pytest.mark.parametrize(
    ("mode", "action", "operation"),
    [
        (Mode.SSE_S3, "s3:GetObject", lambda s: s.get("p/existing")),
        (Mode.SSE_S3, "s3:PutObject", lambda s: s.put("p/new", b"x")),
        (Mode.SSE_S3, "s3:ListBucket", lambda s: list(s.list("p/"))),
        (Mode.SSE_S3, "s3:DeleteObject", lambda s: s.delete("p/existing")),
        (Mode.CLIENT_SIDE, "kms:GenerateDataKey", lambda s: s.put("p/new", b"x")),
        (Mode.CLIENT_SIDE, "kms:Decrypt", lambda s: s.get("p/existing")),
    ],
)
def test_every_generated_action_is_needed(
    root: Connection,
    endpoint: Endpoint,
    mode: Mode,
    action: str,
    operation: Callable[[SecureStore], Any],
) -> None:
    """The enforcement is live and the policy has no spare action: without one of
    them, the call that needs it is refused."""
    endpoint.relax()
    bucket = f"iam-{uuid.uuid4().hex[:12]}"
    create_bucket(root, bucket)
    key = (
        root.client("kms").create_key()["KeyMetadata"]["Arn"] if mode is Mode.CLIENT_SIDE else None
    )
    request = PolicyRequest(bucket, mode, region="us-east-1", prefix="p/", kms_key_arn=key)
    policy = _without(_moto_form(generate(request).identity_policy), action)
    user = _user_with(root, endpoint, policy)

    def store(connection: Connection) -> SecureStore:
        encryption: Any = (
            ClientSide(AwsKmsKeyring(key, client=connection.client("kms"))) if key else SseS3()
        )
        return SecureStore(bucket, encryption=encryption, connection=connection, transfer=SMALL)

    store(root).put("p/existing", b"existing object")
    endpoint.enforce()
    try:
        with pytest.raises(SecureStoreError):
            operation(store(user))
    finally:
        endpoint.relax()


def test_without_abort_the_first_sse_write_leaves_an_upload_behind(
    root: Connection, endpoint: Endpoint
) -> None:
    """s3:AbortMultipartUpload is needed even for small writes: the one-off check that
    the server honours the mode creates and aborts a multipart upload."""
    endpoint.relax()
    bucket = f"iam-{uuid.uuid4().hex[:12]}"
    create_bucket(root, bucket)
    request = PolicyRequest(bucket, Mode.SSE_S3, region="us-east-1", access=Access.WRITE_ONLY)
    for policy, left in (
        (_moto_form(generate(request).identity_policy), []),
        (
            _without(_moto_form(generate(request).identity_policy), "s3:AbortMultipartUpload"),
            ["small"],
        ),
    ):
        user = _user_with(root, endpoint, policy)
        endpoint.enforce()
        try:
            SecureStore(bucket, encryption=SseS3(), connection=user, transfer=SMALL).put(
                "small", b"x"
            )
        finally:
            endpoint.relax()
        assert _orphaned_uploads(root, bucket) == left


def test_a_write_only_role_deletes_a_folder_marker_with_the_cli(
    root: Connection, endpoint: Endpoint
) -> None:
    """``rm s3://b/dir/`` lists first, to refuse a folder without a marker (a no-op
    DELETE); a role that may delete but not list still deletes the marker."""
    from click.testing import CliRunner
    from securestore_cli.main import main_group

    endpoint.relax()
    bucket = f"iam-{uuid.uuid4().hex[:12]}"
    create_bucket(root, bucket)
    root.client("s3").put_object(Bucket=bucket, Key="p/dir/", Body=b"")
    request = PolicyRequest(bucket, Mode.SSE_S3, region="us-east-1", access=Access.WRITE_ONLY)
    iam = root.client("iam")
    name = f"securestore-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    document = json.dumps(_moto_form(generate(request).identity_policy))
    iam.put_user_policy(UserName=name, PolicyName="generated", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    env = {
        **endpoint.env,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_REGION": "us-east-1",
    }
    endpoint.enforce()
    try:
        result = CliRunner().invoke(main_group, ["rm", f"s3://{bucket}/p/dir/"], env=env)
    finally:
        endpoint.relax()
    assert result.exit_code == 0, result.output
    assert root.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0
