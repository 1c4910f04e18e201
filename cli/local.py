"""``securestore local`` (an embedded TLS endpoint) and ``securestore demo`` (a guided tour)."""

from __future__ import annotations

import contextlib
import filecmp
import os
import shlex
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from securestore.local import LocalEndpoint, default_state_dir

from .errors import EXIT_FINDINGS, EXIT_INTEGRITY, EXIT_OK


@click.command("local")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Where the CA and certificate are kept [default: {default_state_dir()}].",
)
def local_command(port: int, state_dir: Path | None) -> None:
    """Serve S3 and KMS (moto) over TLS on 127.0.0.1 until Ctrl-C.

    Prints the environment variables that point every other securestore
    command (and boto3, and the AWS CLI) at it, and creates a KMS key with the
    alias ``alias/securestore-local`` to try SSE-KMS and client-side encryption
    with. Data lives in memory only.
    """
    endpoint = LocalEndpoint(port=port, state_dir=state_dir).start()
    _create_local_key(endpoint)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        click.echo("# securestore local: S3 + KMS over TLS. Data lives in memory and is gone")
        click.echo("# when this process stops. Run in another shell:")
        for name, value in endpoint.environment().items():
            click.echo(f"export {name}={shlex.quote(value)}")
        click.echo(f"# A KMS key to try: --kms-key-id {LOCAL_KEY_ALIAS}")
        click.echo("# Press Ctrl-C to stop.", err=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        endpoint.stop()
        click.echo("# stopped; the data is gone", err=True)


#: The alias of the KMS key ``securestore local`` creates.
LOCAL_KEY_ALIAS = "alias/securestore-local"


def _create_local_key(endpoint: LocalEndpoint) -> None:
    from securestore.transport import Connection

    env = endpoint.environment()
    with _environment(env):
        kms = Connection().client("kms")
        key_id = kms.create_key(Description="securestore local")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=LOCAL_KEY_ALIAS, TargetKeyId=key_id)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _run(args: list[str], *, expect: int = EXIT_OK) -> None:
    """Run one securestore command in this process, showing it as a shell line."""
    from .main import main_group

    click.secho(f"$ securestore {shlex.join(args)}", fg="cyan")
    try:
        main_group.main(args=args, prog_name="securestore")
        code = EXIT_OK
    except SystemExit as exc:
        code = int(exc.code or 0)
    if code != expect:
        raise click.ClickException(f"demo step failed: exit {code}, expected {expect}")
    if expect != EXIT_OK:
        click.secho(f"  (exit {code}, as expected)", fg="green")


def _step(title: str) -> None:
    click.echo()
    click.secho(f"== {title}", bold=True)


@click.command("demo")
def demo_command() -> None:
    """A self-contained tour on a private embedded endpoint (exits 0 when all is well)."""
    with tempfile.TemporaryDirectory(prefix="securestore-demo-") as tmp:
        work = Path(tmp)
        with LocalEndpoint(state_dir=work / "state") as endpoint:
            env = endpoint.environment()
            # Relative names keep the printed commands short and copyable.
            with _environment(env), contextlib.chdir(work):
                _tour(endpoint, Path())
    click.echo()
    click.secho("demo complete: every step behaved as expected", fg="green", bold=True)


def _tour(endpoint: LocalEndpoint, work: Path) -> None:
    from securestore.transport import Connection

    _step(f"an embedded S3 + KMS endpoint over TLS at {endpoint.url} (its own CA)")
    bucket = "securestore-demo"
    _run(["mb", f"s3://{bucket}"])
    kms = Connection().client("kms")
    key_arn = kms.create_key(Description="securestore demo")["KeyMetadata"]["Arn"]
    click.echo(f"created KMS key {key_arn}")

    sample = work / "report.csv"
    sample.write_bytes(b"id,amount\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(200_000)))
    click.echo(f"sample file: {sample.name} ({sample.stat().st_size} bytes)")

    modes = [
        ("SSE-S3", "s3", []),
        (
            "SSE-KMS with a bucket key and an encryption context",
            "kms",
            ["--kms-key-id", key_arn, "--context", "team=payments"],
        ),
        ("DSSE-KMS (dual-layer)", "dsse-kms", ["--kms-key-id", key_arn]),
    ]
    for title, sse, extra in modes:
        _step(title)
        url = f"s3://{bucket}/{sse}/report.csv"
        copy = work / f"copy-{sse}.csv"
        _run(["put", str(sample), url, "--sse", sse, *extra])
        demanded_key = [] if sse == "s3" else ["--kms-key-id", key_arn]  # must be confirmed
        _run(["get", url, str(copy), "--require", sse, *demanded_key])
        if not filecmp.cmp(sample, copy, shallow=False):
            raise click.ClickException(f"round trip through {sse} changed the bytes")
        click.echo("bytes verified: the download is identical to the original")
        _run(["head", url])

    _step("a read that demands SSE-KMS refuses an SSE-S3 object")
    _run(
        ["get", f"s3://{bucket}/s3/report.csv", str(work / "refused.csv"), "--require", "kms"],
        expect=EXIT_INTEGRITY,
    )
    if (work / "refused.csv").exists():
        raise click.ClickException("a refused download left a file behind")

    _step("client-side encryption (AWS Encryption SDK format): a KMS key and a raw AES key")
    aes_key = work / "demo.aes"
    _run(["keygen", "--aes", str(aes_key)])
    url = f"s3://{bucket}/client-side/report.csv"
    _run(
        [
            "put",
            str(sample),
            url,
            "--client-side",
            "--kms-key-id",
            key_arn,
            "--key-file",
            str(aes_key),
            "--context",
            "team=payments",
            "--sse",
            "s3",
        ]
    )
    _run(["inspect", url])
    copy = work / "copy-client-side.csv"
    _run(["get", url, str(copy), "--key-file", str(aes_key), "--context", "team=payments"])
    if not filecmp.cmp(sample, copy, shallow=False):
        raise click.ClickException("the client-side round trip changed the bytes")
    click.echo("bytes verified: decrypted with the AES key file")
    _run(["get", url, str(work / "copy-kms.csv"), "--client-side"])
    if not filecmp.cmp(sample, work / "copy-kms.csv", shallow=False):
        raise click.ClickException("the KMS discovery round trip changed the bytes")
    click.echo("bytes verified: decrypted through KMS (discovery limited to this account)")

    _step("an authenticated ranged read fetches only the frames it needs")
    part = work / "range.bin"
    _run(["get", url, str(part), "--key-file", str(aes_key), "--range", "1000000-1000099"])
    if part.read_bytes() != sample.read_bytes()[1_000_000:1_000_100]:
        raise click.ClickException("the ranged read returned the wrong bytes")
    click.echo("bytes verified: 100 bytes from offset 1,000,000")

    _step("an object copied to another key no longer decrypts (its context binds its location)")
    s3 = Connection().client("s3")
    s3.copy_object(
        Bucket=bucket,
        Key="client-side/moved.csv",
        CopySource={"Bucket": bucket, "Key": "client-side/report.csv"},
    )
    _run(
        [
            "get",
            f"s3://{bucket}/client-side/moved.csv",
            str(work / "moved.csv"),
            "--key-file",
            str(aes_key),
        ],
        expect=EXIT_INTEGRITY,
    )

    _step("listing")
    _run(["ls", f"s3://{bucket}"])

    _step("audit a new bucket: it has no default encryption, TLS-only policy or public block")
    audited = "securestore-audit-demo"
    _run(["mb", f"s3://{audited}"])
    # The account-level public access block is set once per account by an administrator.
    account = Connection().client("sts").get_caller_identity()["Account"]
    Connection().client("s3control").put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    _run(["audit", audited, "--fail-on", "high"], expect=EXIT_FINDINGS)

    _step("harden it: SSE-KMS by default with a bucket key, key rotation, TLS-only policy")
    _run(["harden", f"s3://{audited}", "--sse", "kms", "--kms-key-id", key_arn])

    _step("re-audit: nothing of high severity fails any more")
    _run(["audit", audited, "--fail-on", "high"])


COMMANDS = (local_command, demo_command)

__all__ = ["COMMANDS"]
