"""Interop check: securestore client-side objects <-> the official ``aws-encryption-cli``.

Run it with ``.venv/bin/python -m tests.interop.esdk_cli [--cli-venv DIR]``
(see docs/interop.md). It is not a pytest module; ``test_esdk_cli.py`` runs it
when ``SECURESTORE_ESDK_CLI=1``.

``aws-encryption-sdk-cli`` pins ``aws-encryption-sdk~=3.1``, which cannot share
securestore's environment, so it lives in a virtual environment of its own
(created on first use, reused afterwards). The script then:

1. starts ``securestore.local.LocalEndpoint`` (moto S3 + KMS over TLS, its own
   CA) in-process, creates a bucket and a KMS key through ``Connection``;
2. (a) writes objects with ``ClientSide(AwsKmsKeyring(ARN))`` (and one with a
   raw AES key), fetches the raw ciphertext with boto3 and decrypts it with
   ``aws-encryption-cli --decrypt`` (strict commitment policy, the
   ``securestore:bucket``/``securestore:key`` context required, at most 10
   EDKs), comparing bytes; a wrong required context must be refused;
3. (b) encrypts files with ``aws-encryption-cli --encrypt`` (default suite
   0x0578 and 0x0478; default and 1 MiB frames; the location context pairs),
   uploads them as plain objects with ``put_object`` and reads them with
   ``securestore get`` and ``SecureStore.open(...).read_range(...)``,
   comparing bytes;
4. prints a table and exits 1 on any FAIL or XPASS.

Statuses: PASS; FAIL; XFAIL, a documented interop break (``KNOWN_ISSUES``)
whose exact symptom was seen: reported, not fatal unless ``--strict``; XPASS,
a known break that no longer happens: fatal, so that the list is kept true.

The CLI reaches the endpoint through botocore's own environment variables
(``AWS_ENDPOINT_URL``, ``AWS_CA_BUNDLE``, credentials, ``AWS_REGION``); that
needs botocore >= 1.31, which the script checks in the CLI's environment.
Raw AES keys need a master key provider plugin (the CLI ships only
``aws-kms``): ``raw_aes_plugin.py`` is installed into the CLI's environment as
one (``--no-raw-aes`` skips that part).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from securestore import (
    AwsKmsKeyring,
    ClientSide,
    Connection,
    Keyring,
    RawAesKeyring,
    SecureStore,
    TransferConfig,
    create_bucket,
)
from securestore.clientside import CONTEXT_BUCKET, CONTEXT_KEY, FORMAT_METADATA, FORMAT_VALUE
from securestore.local import LocalEndpoint
from tests.support.endpoints import endpoint_connection
from tests.support.interop import child_env

DEFAULT_VENV = Path("/tmp/securestore-esdk-cli-venv")
CLI_PACKAGE = "aws-encryption-sdk-cli"
PLUGIN_DIST = "securestore-esdk-cli-raw-aes"
PLUGIN_MODULE = "securestore_esdk_cli_raw_aes"
PLUGIN_SOURCE = Path(__file__).with_name("raw_aes_plugin.py")
MIN_BOTOCORE = (1, 31)  # the first botocore that reads AWS_ENDPOINT_URL

KiB = 1 << 10
MiB = 1 << 20
SECURESTORE_FRAME = 256 * KiB  # securestore's default frame length
CLI_FRAME = 4 * KiB  # aws-encryption-cli's default frame length
SUITE_UNSIGNED = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"  # 0x0478, what securestore writes
RAW_NAMESPACE = "securestore"  # securestore's defaults for raw keys (CLI --key-name)
RAW_KEY_NAME = "default"


@dataclass(frozen=True)
class KnownIssue:
    """A documented interop break; ``symptom`` must appear in the failure message."""

    name: str
    symptom: str
    summary: str


#: Documented interop breaks. Both earlier ones are fixed: full final frames (an empty
#: final frame now ends exact multiples) and ESDK messages returned raw (get with a key
#: option always decrypts, whatever the metadata says).
KNOWN_ISSUES: tuple[KnownIssue, ...] = ()


@dataclass
class Result:
    check: str
    status: str  # PASS, FAIL, XFAIL, XPASS
    detail: str = ""


class Checks:
    """Runs checks and collects results; a check that raises is reported, never an abort."""

    def __init__(self) -> None:
        self.results: list[Result] = []

    def run(self, name: str, fn: Callable[[], str | None], known: KnownIssue | None = None) -> bool:
        started = time.monotonic()
        try:
            detail = fn() or ""
            status = "XPASS" if known else "PASS"
            if known:
                detail = (
                    f"known issue {known.name} no longer happens: update KNOWN_ISSUES; {detail}"
                )
        except Exception as exc:  # report and go on with the next check
            detail = f"{type(exc).__name__}: {exc}"
            status = "FAIL"
            if known is not None and known.symptom in detail:
                status = "XFAIL"
                detail = f"known issue {known.name}: {_symptom_line(detail, known.symptom)}"
        detail = f"{detail} [{time.monotonic() - started:.1f}s]".strip()
        self.results.append(Result(name, status, detail))
        print(f"  {status:<5}  {name}", flush=True)
        if status in ("FAIL", "XPASS"):
            print(textwrap.indent(detail, "         "), flush=True)
        return status == "PASS"

    def failed(self, *, strict: bool) -> list[Result]:
        bad = {"FAIL", "XPASS", "XFAIL"} if strict else {"FAIL", "XPASS"}
        return [r for r in self.results if r.status in bad]

    def table(self) -> str:
        width = max((len(r.check) for r in self.results), default=5)
        lines = [
            f"| {'check':<{width}} | result | detail |",
            f"|{'-' * (width + 2)}|--------|--------|",
        ]
        for r in self.results:
            first = r.detail.splitlines()[0] if r.detail else ""
            lines.append(f"| {r.check:<{width}} | {r.status:<6} | {first} |")
        counts = {
            s: sum(r.status == s for r in self.results) for s in ("PASS", "FAIL", "XFAIL", "XPASS")
        }
        lines.append(
            f"{counts['PASS']} passed, {counts['FAIL'] + counts['XPASS']} failed, "
            f"{counts['XFAIL']} known issues (xfail)"
        )
        return "\n".join(lines)


def _symptom_line(text: str, symptom: str) -> str:
    for line in text.splitlines():
        if symptom in line:
            return line.strip()[:160]
    return text.splitlines()[0][:160]


class CheckError(AssertionError):
    pass


def _run(cmd: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(
        list(cmd), env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise CheckError(
            f"exit {proc.returncode}: {Path(cmd[0]).name} {' '.join(cmd[1:3])} ...\n"
            f"{proc.stderr.strip()[-2000:]}"
        )
    return proc.stderr


def _digest(data: bytes) -> str:
    return f"{len(data)} B sha256 {hashlib.sha256(data).hexdigest()[:16]}"


def _same(got: bytes, want: bytes) -> str:
    if got != want:
        raise CheckError(f"bytes differ: got {_digest(got)}, want {_digest(want)}")
    return f"{len(want)} B equal"


def _suite(ciphertext: bytes) -> str:
    return f"suite 0x{ciphertext[1:3].hex()}" if len(ciphertext) > 3 else "suite ?"


# -- the CLI's virtual environment ------------------------------------------------------------


@dataclass(frozen=True)
class CliEnv:
    venv: Path
    cli: Path
    versions: dict[str, str]
    raw_aes: bool


def _pip(venv: Path, *args: str) -> None:
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args], timeout=900)


def _versions(venv: Path) -> dict[str, str]:
    code = textwrap.dedent(
        f"""\
        import importlib.metadata as m, sys
        for d in ({CLI_PACKAGE!r}, "aws-encryption-sdk", "botocore", "boto3", "cryptography",
                  {PLUGIN_DIST!r}):
            try:
                print(d, m.version(d))
            except m.PackageNotFoundError:
                pass
        print("python", sys.version.split()[0])
        """
    )
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line)


def _install_plugin(venv: Path, work: Path) -> None:
    """Install raw_aes_plugin.py as a package that registers the CLI entry point."""
    src = work / "plugin"
    src.mkdir()
    shutil.copyfile(PLUGIN_SOURCE, src / f"{PLUGIN_MODULE}.py")
    (src / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{PLUGIN_DIST}"
            version = "1.0"
            description = "securestore interop test: raw AES keys for aws-encryption-cli"

            [project.entry-points."aws_encryption_sdk_cli.master_key_providers"]
            securestore-raw-aes = "{PLUGIN_MODULE}:raw_aes_provider"

            [tool.setuptools]
            py-modules = ["{PLUGIN_MODULE}"]
            """
        )
    )
    try:  # the venv's own setuptools (>= 61) builds it: nothing to download
        _pip(venv, "--no-build-isolation", "--force-reinstall", "--no-deps", str(src))
    except CheckError:
        _pip(venv, "--force-reinstall", "--no-deps", str(src))


def ensure_cli_venv(venv: Path, work: Path, *, raw_aes: bool) -> CliEnv:
    cli = venv / "bin" / "aws-encryption-cli"
    if not cli.exists():
        print(f"creating {venv} and installing {CLI_PACKAGE} ...", flush=True)
        _run([sys.executable, "-m", "venv", "--clear", str(venv)])
        _pip(venv, CLI_PACKAGE)
    else:
        print(f"reusing {venv}", flush=True)
    if raw_aes:
        _install_plugin(venv, work)
    versions = _versions(venv)
    botocore = tuple(int(p) for p in versions["botocore"].split(".")[:2])
    if botocore < MIN_BOTOCORE:
        raise SystemExit(
            f"botocore {versions['botocore']} in {venv} ignores AWS_ENDPOINT_URL; need "
            f">= {'.'.join(map(str, MIN_BOTOCORE))}: {venv}/bin/pip install -U botocore"
        )
    return CliEnv(venv, cli, versions, raw_aes)


# -- the checks -------------------------------------------------------------------------------


@dataclass
class Interop:
    cli: CliEnv
    conn: Connection
    env: dict[str, str]
    bucket: str
    key_arn: str
    aes_key: bytes
    aes_key_file: Path
    work: Path
    securestore_cli: Path

    @property
    def s3(self) -> Any:
        return self.conn.client("s3")

    def kms_keyring(self) -> AwsKmsKeyring:
        return AwsKmsKeyring(self.key_arn, client=self.conn.client("kms"))

    def aes_keyring(self) -> RawAesKeyring:
        return RawAesKeyring(RAW_NAMESPACE, RAW_KEY_NAME, self.aes_key)

    def context(self, key: str) -> list[str]:
        return [f"{CONTEXT_BUCKET}={self.bucket}", f"{CONTEXT_KEY}={key}"]

    def wrapping(self, raw: bool) -> list[str]:
        if not raw:
            return ["--wrapping-keys", f"key={self.key_arn}"]
        return [
            "--wrapping-keys",
            "provider=securestore-raw-aes",
            f"key={RAW_KEY_NAME}",
            f"key-file={self.aes_key_file}",
            f"namespace={RAW_NAMESPACE}",
        ]

    def _tmp(self, prefix: str) -> Path:
        return self.work / f"{prefix}-{uuid.uuid4().hex}"

    def esdk_decrypt(
        self,
        ciphertext: bytes,
        context: list[str],
        *,
        raw: bool = False,
        action: str = "--decrypt",
        extra: Sequence[str] = (),
    ) -> tuple[bytes | None, str]:
        """The plaintext (None if the CLI wrote no output) and the CLI's stderr."""
        src, dst = self._tmp("ct"), self._tmp("pt")
        src.write_bytes(ciphertext)
        try:
            stderr = _run(
                [
                    str(self.cli.cli),
                    action,
                    "--input",
                    str(src),
                    "--output",
                    str(dst),
                    *self.wrapping(raw),
                    "--commitment-policy",
                    "require-encrypt-require-decrypt",
                    "--encryption-context",
                    *context,
                    "--max-encrypted-data-keys",
                    "10",
                    "--suppress-metadata",
                    *extra,
                ],
                env=self.env,
            )
            return (dst.read_bytes() if dst.exists() else None), stderr
        finally:
            src.unlink(missing_ok=True)
            dst.unlink(missing_ok=True)

    def esdk_encrypt(self, plaintext: bytes, key: str, *, raw: bool, extra: Sequence[str]) -> bytes:
        src, dst = self._tmp("pt"), self._tmp("ct")
        src.write_bytes(plaintext)
        try:
            _run(
                [
                    str(self.cli.cli),
                    "--encrypt",
                    "--input",
                    str(src),
                    "--output",
                    str(dst),
                    *self.wrapping(raw),
                    "--commitment-policy",
                    "require-encrypt-require-decrypt",
                    "--encryption-context",
                    *self.context(key),
                    "--suppress-metadata",
                    *extra,
                ],
                env=self.env,
            )
            return dst.read_bytes()
        finally:
            src.unlink(missing_ok=True)
            dst.unlink(missing_ok=True)

    def raw_get(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def securestore_get(self, key: str, *options: str) -> bytes:
        out = self._tmp("get")
        try:
            _run(
                [
                    str(self.securestore_cli),
                    "--quiet",
                    "get",
                    f"s3://{self.bucket}/{key}",
                    str(out),
                    *options,
                ],
                env=self.env,
            )
            return out.read_bytes()
        finally:
            out.unlink(missing_ok=True)


def check_store_to_cli(io: Interop, checks: Checks) -> None:
    """(a) aws-encryption-cli decrypts what securestore wrote."""
    store = SecureStore(
        io.bucket,
        encryption=ClientSide(io.kms_keyring()),
        connection=io.conn,
        transfer=TransferConfig(part_size=5 * MiB, concurrency=2),
    )

    def decrypt_put(key: str, plaintext: bytes) -> str:
        store.put(key, plaintext)
        ciphertext = io.raw_get(key)
        got, _ = io.esdk_decrypt(ciphertext, io.context(key))
        if got is None:
            raise CheckError("aws-encryption-cli exited 0 but wrote no output")
        return f"{_suite(ciphertext)}, " + _same(got, plaintext)

    for size in (0, 1, 4097, 1_000_003):
        plaintext = os.urandom(size)
        checks.run(
            f"a: put KMS {size} B -> cli --decrypt",
            lambda s=size, p=plaintext: decrypt_put(f"from-securestore/kms/{s}", p),
        )
    for size, what in ((SECURESTORE_FRAME, "= 1 frame"), (4 * SECURESTORE_FRAME, "= 4 frames")):
        plaintext = os.urandom(size)
        checks.run(
            f"a: put KMS {size} B ({what}) -> cli --decrypt",
            lambda s=size, p=plaintext: decrypt_put(f"from-securestore/kms/{s}", p),
        )

    big_key = "from-securestore/kms/multipart"
    big = os.urandom(11 * MiB + 12345)

    def multipart() -> str:
        src = io._tmp("big")
        src.write_bytes(big)
        try:
            store.upload_file(src, big_key)
        finally:
            src.unlink()
        etag = io.s3.head_object(Bucket=io.bucket, Key=big_key)["ETag"].strip('"')
        if "-" not in etag:
            raise CheckError(f"expected a multipart ETag, got {etag}")
        got, _ = io.esdk_decrypt(io.raw_get(big_key), io.context(big_key))
        if got is None:
            raise CheckError("aws-encryption-cli exited 0 but wrote no output")
        return f"{etag.split('-')[1]} parts, " + _same(got, big)

    checks.run("a: upload_file KMS 11 MiB (multipart) -> cli --decrypt", multipart)

    exact = os.urandom(10 * MiB)

    def multipart_exact(key: str = "from-securestore/kms/multipart-10MiB") -> str:
        src = io._tmp("exact")
        src.write_bytes(exact)
        try:
            store.upload_file(src, key)
        finally:
            src.unlink()
        got, _ = io.esdk_decrypt(io.raw_get(key), io.context(key))
        return _same(got or b"", exact)

    checks.run(
        "a: upload_file KMS 10 MiB (= 40 frames, 2 parts) -> cli --decrypt",
        multipart_exact,
    )

    def unsigned() -> str:
        ciphertext = io.raw_get(big_key)
        got, _ = io.esdk_decrypt(ciphertext, io.context(big_key), action="--decrypt-unsigned")
        _same(got or b"", big)
        got, _ = io.esdk_decrypt(ciphertext, io.context(big_key), extra=["--buffer"])
        return _same(got or b"", big)

    checks.run("a: multipart -> cli --decrypt-unsigned, --decrypt --buffer", unsigned)

    def wrong_context() -> str:
        wrong = [f"{CONTEXT_BUCKET}={io.bucket}", f"{CONTEXT_KEY}=somewhere/else"]
        got, stderr = io.esdk_decrypt(io.raw_get(big_key), wrong)
        if got is not None:
            raise CheckError(f"the CLI wrote {len(got)} B despite the wrong context")
        if "did not match required elements" not in stderr:
            raise CheckError(f"no output but no context warning: {stderr[-300:]}")
        return "exit 0, no output, 'encryption context did not match' warning"

    checks.run("a: cli --decrypt refuses a wrong securestore:key context", wrong_context)

    def wrong_bucket() -> str:
        wrong = [f"{CONTEXT_BUCKET}=other-bucket", f"{CONTEXT_KEY}={big_key}"]
        got, _ = io.esdk_decrypt(io.raw_get(big_key), wrong)
        if got is not None:
            raise CheckError(f"the CLI wrote {len(got)} B despite the wrong context")
        return "exit 0, no output"

    checks.run("a: cli --decrypt refuses a wrong securestore:bucket context", wrong_bucket)

    if io.cli.raw_aes:
        raw_store = SecureStore(
            io.bucket, encryption=ClientSide(io.aes_keyring()), connection=io.conn
        )
        plaintext = os.urandom(300_001)

        def raw_check(key: str = "from-securestore/raw-aes/300001") -> str:
            raw_store.put(key, plaintext)
            got, _ = io.esdk_decrypt(io.raw_get(key), io.context(key), raw=True)
            if got is None:
                raise CheckError("aws-encryption-cli exited 0 but wrote no output")
            return _same(got, plaintext)

        checks.run("a: put raw AES 300001 B -> cli --decrypt (plugin)", raw_check)


def _ranges(size: int, frame: int) -> list[tuple[int, int]]:
    """(start, length): first byte, everything, across frame boundaries, the tail, past the end."""
    return [
        (0, 1),
        (0, size),
        (frame - 3, 7),
        (size // 2, frame + 10),
        (size - 5, 5),
        (size - 5, 100),
        (size + 10, 10),
    ]


@dataclass(frozen=True)
class CliWritten:
    label: str
    extra: tuple[str, ...]
    frame: int
    raw: bool = False


def check_cli_to_store(io: Interop, checks: Checks) -> None:
    """(b) securestore reads what aws-encryption-cli wrote."""
    size = 2 * MiB + 777
    plaintext = os.urandom(size)
    cases = [
        CliWritten("KMS 0x0578 (cli default), 4 KiB frames (cli default)", (), CLI_FRAME),
        CliWritten("KMS 0x0578, 1 MiB frames", ("--frame-length", str(MiB)), MiB),
        CliWritten("KMS 0x0478, 4 KiB frames", ("--algorithm", SUITE_UNSIGNED), CLI_FRAME),
        CliWritten(
            "KMS 0x0478, 1 MiB frames",
            ("--algorithm", SUITE_UNSIGNED, "--frame-length", str(MiB)),
            MiB,
        ),
    ]
    if io.cli.raw_aes:
        cases.append(CliWritten("raw AES 0x0578, 4 KiB frames (plugin)", (), CLI_FRAME, raw=True))

    for n, case in enumerate(cases):
        key = f"from-esdk-cli/{n}"
        key_option = (
            ["--key-file", str(io.aes_key_file)] if case.raw else ["--kms-key-id", io.key_arn]
        )
        stored: dict[str, bytes] = {}

        def encrypt_and_upload(
            key: str = key, case: CliWritten = case, stored: dict[str, bytes] = stored
        ) -> str:
            ciphertext = io.esdk_encrypt(plaintext, key, raw=case.raw, extra=case.extra)
            io.s3.put_object(Bucket=io.bucket, Key=key, Body=ciphertext)
            stored["ciphertext"] = ciphertext
            return f"{_suite(ciphertext)}, {len(ciphertext)} B"

        if not checks.run(f"b: cli --encrypt {case.label} -> put_object", encrypt_and_upload):
            continue

        def get_client_side(key: str = key, options: list[str] = key_option) -> str:
            return _same(io.securestore_get(key, *options, "--require", "client-side"), plaintext)

        checks.run(f"b:   securestore get {key_option[0]} --require client-side", get_client_side)

        def get_plain(
            key: str = key, options: list[str] = key_option, stored: dict[str, bytes] = stored
        ) -> str:
            got = io.securestore_get(key, *options)
            if got == stored["ciphertext"]:
                raise CheckError(
                    f"securestore get returned the ciphertext unchanged ({_digest(got)})"
                )
            return _same(got, plaintext)

        checks.run(f"b:   securestore get {key_option[0]} (no --require)", get_plain)

        def read_ranges(key: str = key, case: CliWritten = case) -> str:
            keyring: Keyring = io.aes_keyring() if case.raw else io.kms_keyring()
            store = SecureStore(io.bucket, encryption=ClientSide(keyring), connection=io.conn)
            ranges = _ranges(size, case.frame)
            with store.open(key) as reader:
                for start, length in ranges:
                    got = reader.read_range(start, length)
                    want = plaintext[start : start + length]
                    if got != want:
                        raise CheckError(
                            f"read_range({start}, {length}): "
                            f"got {_digest(got)}, want {_digest(want)}"
                        )
            return f"{len(ranges)} ranges equal"

        checks.run("b:   SecureStore(ClientSide).open().read_range", read_ranges)

    # A writer that also sets securestore's (informational) marker reads the same.
    def marked() -> str:
        key = "from-esdk-cli/marked"
        ciphertext = io.esdk_encrypt(plaintext, key, raw=False, extra=())
        io.s3.put_object(
            Bucket=io.bucket, Key=key, Body=ciphertext, Metadata={FORMAT_METADATA: FORMAT_VALUE}
        )
        return _same(io.securestore_get(key, "--kms-key-id", io.key_arn), plaintext)

    checks.run(
        f"b: cli --encrypt KMS 0x0578 + put_object x-amz-meta-{FORMAT_METADATA} -> securestore get",
        marked,
    )


def cleanup(conn: Connection, bucket: str, key_id: str) -> str:
    store = SecureStore(bucket, connection=conn)
    keys = [entry.key for entry in store.list()]
    for key in keys:
        store.delete(key)
    conn.client("s3").delete_bucket(Bucket=bucket)
    # moto 5.x answers 500 to ScheduleKeyDeletion given an ARN (KeyError in its backend).
    conn.client("kms").schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return f"{len(keys)} objects, bucket and key"


# -- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.interop.esdk_cli",
        description="securestore client-side objects <-> aws-encryption-cli (docs/interop.md)",
    )
    parser.add_argument(
        "--cli-venv",
        type=Path,
        default=Path(os.environ.get("SECURESTORE_ESDK_CLI_VENV") or DEFAULT_VENV),
        help=f"venv for {CLI_PACKAGE}: created if missing, else reused (default {DEFAULT_VENV})",
    )
    parser.add_argument(
        "--no-raw-aes",
        action="store_true",
        help="skip the raw AES checks (they install a key provider plugin into the CLI's venv)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="count known issues (XFAIL) as failures too"
    )
    args = parser.parse_args(argv)

    securestore_cli = Path(sys.executable).with_name("securestore")
    if not securestore_cli.exists():
        print(f"error: {securestore_cli} not found: run with securestore's venv", file=sys.stderr)
        return 2

    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="securestore-esdk-cli-") as tmp:
        work = Path(tmp)
        cli = ensure_cli_venv(args.cli_venv.absolute(), work, raw_aes=not args.no_raw_aes)
        versions = ", ".join(f"{k} {v}" for k, v in cli.versions.items())
        print(f"CLI venv {cli.venv}: {versions}", flush=True)
        (work / "home").mkdir()
        aes_key = os.urandom(32)
        aes_key_file = work / "team.key"  # securestore's key file format, mode 0600
        fd = os.open(aes_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(aes_key) + b"\n")

        with LocalEndpoint(state_dir=work / "endpoint") as endpoint:
            endpoint_env = endpoint.environment()
            print(f"endpoint {endpoint.url}", flush=True)
            conn = endpoint_connection(endpoint_env, max_attempts=2)
            bucket = f"esdk-cli-{uuid.uuid4().hex[:12]}"
            create_bucket(conn, bucket)
            metadata = conn.client("kms").create_key(Description="securestore esdk-cli interop")
            key_arn = metadata["KeyMetadata"]["Arn"]
            print(f"bucket {bucket}, KMS key {key_arn}", flush=True)
            io = Interop(
                cli=cli,
                conn=conn,
                env=child_env(endpoint_env, work / "home"),
                bucket=bucket,
                key_arn=key_arn,
                aes_key=aes_key,
                aes_key_file=aes_key_file,
                work=work,
                securestore_cli=securestore_cli,
            )
            try:
                check_store_to_cli(io, checks)
                check_cli_to_store(io, checks)
            finally:
                key_id = metadata["KeyMetadata"]["KeyId"]
                checks.run(
                    "cleanup: objects, bucket, KMS key", lambda: cleanup(conn, bucket, key_id)
                )

    print()
    print(checks.table())
    print(f"aws-encryption-cli venv {cli.venv}: {versions}")
    seen = {r.detail.split(":")[0] for r in checks.results if r.status == "XFAIL"}
    for issue in KNOWN_ISSUES:
        if f"known issue {issue.name}" in seen:
            print(f"known issue {issue.name}: {issue.summary} (docs/interop.md)")
    if args.strict and any(r.status == "XFAIL" for r in checks.results):
        print("--strict: known issues count as failures")
    return 1 if checks.failed(strict=args.strict) or not checks.results else 0


if __name__ == "__main__":
    sys.exit(main())
