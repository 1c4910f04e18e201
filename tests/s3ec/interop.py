"""Interop check: objects of AWS's real S3 Encryption Client <-> securestore's S3EC decoder.

Run it with ``.venv/bin/python -m tests.s3ec.interop [--client-venv DIR]``
(docs/interop.md); ``test_interop.py`` runs it when ``SECURESTORE_S3EC=1``.

``amazon-s3-encryption-client-python`` pins ``cryptography<49``, so it lives in a
virtual environment of its own (created on first use, reused afterwards), where
``interop_child.py`` drives it. The check:

1. starts ``securestore.local.LocalEndpoint`` (moto S3 + KMS over TLS) in-process,
   creates a bucket and a KMS key;
2. has the real client write V3 (default, committing) and V2 (non-committing
   policy) objects, with and without an encryption context, of 0 B, 1000 B and
   3 MiB + 5, and reads each with ``SecureStore.get`` / ``download_file``
   (``AwsKmsKeyring``, the same context), comparing SHA-256;
3. moves the metadata of the real client's objects into instruction files
   (``KEY.instruction``; V3 keeps ``x-amz-c``/``x-amz-d``/``x-amz-i`` on the
   object) and checks that both the real client and securestore read them;
4. has the real client read V3 and V2 objects written by securestore's
   test-only encoder (tests/s3ec/encoder.py), so the hand-built vectors follow
   the real format;
5. checks refusals on real objects: mixed V2+V3 metadata, a flipped tag, a
   wrong context;
6. prints a table and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from securestore import AwsKmsKeyring, Connection, SecureStore, create_bucket
from securestore.errors import AuthenticationError, FormatError, IntegrityError
from securestore.local import LocalEndpoint
from tests.s3ec import encoder
from tests.support.endpoints import endpoint_connection
from tests.support.interop import child_env

DEFAULT_VENV = Path(os.environ.get("SECURESTORE_S3EC_VENV", "/tmp/securestore-s3ec-venv"))
CLIENT_PACKAGE = "amazon-s3-encryption-client-python"
CHILD = Path(__file__).with_name("interop_child.py")
SIZES = (0, 1000, 3 * (1 << 20) + 5)


def ensure_client_venv(venv: Path) -> str:
    """The venv with the real client (created if missing); returns its version."""
    python = venv / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import importlib.metadata as m; print(m.version('" + CLIENT_PACKAGE + "'))",
    ]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True, check=False)
        if found.returncode == 0:
            print(f"reusing {venv}", flush=True)
            return found.stdout.strip()
    print(f"creating {venv} and installing {CLIENT_PACKAGE} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", CLIENT_PACKAGE], check=True, timeout=900
    )
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


class Checks:
    """Named checks and their outcomes."""

    def __init__(self) -> None:
        self.results: list[tuple[str, str, str]] = []

    def run(self, name: str, check: Callable[[], str | None]) -> None:
        """Record PASS, or FAIL with the reason (an exception or a returned message)."""
        try:
            problem = check()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:300]}"
        self.results.append((name, "FAIL" if problem else "PASS", problem or ""))
        print(f"{'FAIL' if problem else 'PASS'} {name} {problem or ''}", flush=True)

    def table(self) -> str:
        """The results, one line each, and a total."""
        width = max((len(name) for name, _, _ in self.results), default=10)
        lines = [f"{name:<{width}}  {status}  {detail}" for name, status, detail in self.results]
        failed = sum(status == "FAIL" for _, status, _ in self.results)
        return "\n".join([*lines, f"{len(self.results)} checks, {failed} failed"])


def run_child(venv: Path, env: dict[str, str], job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in the real client's venv."""
    proc = subprocess.run(
        [str(venv / "bin" / "python"), str(CHILD)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the S3EC child failed: {proc.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _to_instruction_file(s3: Any, bucket: str, source: str, target: str) -> None:
    """Copy ``source`` to ``target`` with its S3EC metadata moved into ``target.instruction``."""
    got = s3.get_object(Bucket=bucket, Key=source)
    own, instruction = encoder.split_instruction_file(got["Metadata"])
    s3.put_object(Bucket=bucket, Key=target, Body=got["Body"].read(), Metadata=own)
    s3.put_object(Bucket=bucket, Key=target + ".instruction", Body=instruction)


def _expect(error: type[Exception], action: Callable[[], object]) -> str | None:
    try:
        action()
    except error:
        return None
    return f"expected {error.__name__}"


def check_all(conn: Connection, venv: Path, env: dict[str, str], bucket: str, arn: str) -> Checks:
    """Every check of the module docstring."""
    checks = Checks()
    s3 = conn.client("s3")
    store = SecureStore(
        bucket, connection=conn, keyring=AwsKmsKeyring(arn, client=conn.client("kms"))
    )
    writes = [
        {
            "key": f"real-v{v}-{size}{'-ctx' if ctx else ''}",
            "version": v,
            "size": size,
            "context": {"team": "interop"} if ctx else {},
        }
        for v in (3, 2)
        for size in SIZES
        for ctx in (False, True)
    ]
    answer = run_child(venv, env, {"bucket": bucket, "key_arn": arn, "writes": writes, "reads": []})
    written: dict[str, str] = answer["written"]
    for write in writes:
        key, context = write["key"], write["context"]

        def read(key: str = key, context: dict[str, str] = context) -> str | None:
            metadata = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
            marker = "x-amz-c" if key.startswith("real-v3") else "x-amz-key-v2"
            if marker not in metadata:
                return f"the real client wrote no {marker}: {sorted(metadata)}"
            got = store.get(key, context=context, allow_s3ec=True)
            return None if _sha(got) == written[key] else "plaintext differs"

        checks.run(f"real client {key} -> securestore get", read)
    big = f"real-v3-{SIZES[-1]}-ctx"

    def download() -> str | None:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "out"
            store.download_file(big, target, context={"team": "interop"}, allow_s3ec=True)
            return None if _sha(target.read_bytes()) == written[big] else "file differs"

    checks.run(f"real client {big} -> securestore download_file", download)

    # Instruction files: made from the real client's objects, read by both sides.
    moved = []
    for source in ("real-v3-1000-ctx", "real-v2-1000-ctx", "real-v3-0", "real-v2-0"):
        target = source.replace("real", "instr")
        _to_instruction_file(s3, bucket, source, target)
        moved.append((source, target))
    # Objects of securestore's test encoder (KMS wrap), read by the real client.
    encoded: dict[str, str] = {}
    for version in (3, 2):
        data = os.urandom(5000)
        cek = "115" if version == 3 else encoder.GCM_NAME
        full = {"team": "interop", "aws:x-amz-cek-alg": cek}
        answer_kms = conn.client("kms").generate_data_key(
            KeyId=arn, KeySpec="AES_256", EncryptionContext=full
        )
        if version == 3:
            body, metadata = encoder.encrypt_v3(
                data,
                answer_kms["Plaintext"],
                answer_kms["CiphertextBlob"],
                wrap="kms+context",
                message_id=os.urandom(28),
                context=full,
            )
        else:
            body, metadata = encoder.encrypt_v2_gcm(
                data,
                answer_kms["Plaintext"],
                answer_kms["CiphertextBlob"],
                wrap="kms+context",
                iv=os.urandom(12),
                matdesc=full,
            )
        encoder.put(s3, bucket, f"encoder-v{version}", body, metadata)
        encoded[f"encoder-v{version}"] = _sha(data)
    reads = [
        {"key": target, "context": {"team": "interop"} if "ctx" in target else {}}
        for _, target in moved
    ]
    reads += [{"key": key, "context": {"team": "interop"}} for key in encoded]
    answer = run_child(venv, env, {"bucket": bucket, "key_arn": arn, "writes": [], "reads": reads})
    for source, target in moved:
        context = {"team": "interop"} if "ctx" in target else {}
        checks.run(
            f"instruction file {target} -> real client",
            lambda s=source, t=target: (
                None if answer["read"][t] == written[s] else answer["read"][t]
            ),
        )
        checks.run(
            f"instruction file {target} -> securestore get",
            lambda s=source, t=target, c=context: (
                None
                if _sha(store.get(t, context=c, allow_s3ec=True)) == written[s]
                else "plaintext differs"
            ),
        )
    for key, digest in encoded.items():
        checks.run(
            f"securestore encoder {key} -> real client",
            lambda k=key, d=digest: None if answer["read"][k] == d else answer["read"][k],
        )

    # Refusals on real objects.
    got = s3.get_object(Bucket=bucket, Key="real-v3-1000")
    body, metadata = got["Body"].read(), got["Metadata"]
    v2_metadata = s3.head_object(Bucket=bucket, Key="real-v2-1000")["Metadata"]
    encoder.put(
        s3, bucket, "mixed", body, {**metadata, "x-amz-key-v2": v2_metadata["x-amz-key-v2"]}
    )
    checks.run(
        "mixed V2+V3 metadata refused",
        lambda: _expect(FormatError, lambda: store.get("mixed", allow_s3ec=True)),
    )
    encoder.put(s3, bucket, "flipped", body[:-1] + bytes([body[-1] ^ 1]), metadata)
    checks.run(
        "flipped tag refused",
        lambda: _expect(AuthenticationError, lambda: store.get("flipped", allow_s3ec=True)),
    )
    checks.run(
        "wrong context refused",
        lambda: _expect(
            IntegrityError,
            lambda: store.get("real-v3-1000-ctx", context={"team": "x"}, allow_s3ec=True),
        ),
    )
    return checks


def main() -> int:
    """Run the check; exit status 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--client-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    version = ensure_client_venv(args.client_venv.absolute())
    print(f"{CLIENT_PACKAGE} {version} in {args.client_venv}", flush=True)
    with tempfile.TemporaryDirectory(prefix="securestore-s3ec-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        with LocalEndpoint(state_dir=work / "endpoint") as endpoint:
            endpoint_env = endpoint.environment()
            conn = endpoint_connection(endpoint_env, max_attempts=2)
            bucket = f"s3ec-{uuid.uuid4().hex[:12]}"
            create_bucket(conn, bucket)
            arn = conn.client("kms").create_key(Description="s3ec interop")["KeyMetadata"]["Arn"]
            env = child_env(endpoint_env, work / "home")
            checks = check_all(conn, args.client_venv.absolute(), env, bucket, arn)
    print()
    print(checks.table())
    print(f"{CLIENT_PACKAGE} {version}")
    failed = any(status == "FAIL" for _, status, _ in checks.results)
    return 1 if failed or not checks.results else 0


if __name__ == "__main__":
    sys.exit(main())
