"""The CLI never prints key material or credentials, on success, on failure, or when debugging."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore import Connection
from securestore.keyrings import RawAesKeyring, generate_aes_key_file, load_aes_key_file
from tests.conftest import Endpoint
from tests.hygiene.scanner import SecretScanner
from tests.support.cli import cli_runner

Run = Callable[..., Result]
DATA = random.Random(11).randbytes(30_000)


@pytest.fixture
def cli(tls_endpoint: Endpoint) -> Run:
    run = cli_runner(tls_endpoint)

    def invoke(
        *args: object, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return run(*[str(a) for a in args], input=input, **(env or {}))

    return invoke


def _outputs(results: list[tuple[str, Result]]) -> list[tuple[str, str | bytes]]:
    out: list[tuple[str, str | bytes]] = []
    for label, result in results:
        out += [(f"{label} stdout", result.stdout_bytes), (f"{label} stderr", result.stderr_bytes)]
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            out.append((f"{label} exception", repr(result.exception)))
    return out


def _learn_key_files(scanner: SecretScanner, aes: list[Path], pem: Path) -> None:
    for path in aes:
        text = path.read_text()
        scanner.add_text(f"key file {path.name}", text.strip(), "key-file line")
        scanner.add(f"AES key {path.name}", bytes(load_aes_key_file(path)))
    private = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    scanner.add_rsa_private_key(f"RSA key {pem.name}", private, pem.read_bytes())


@pytest.mark.timeout(120)
def test_commands_never_print_key_material(
    cli: Run,
    bucket: str,
    kms_key: str,
    scanner: SecretScanner,
    tmp_path: Path,
    connection: Connection,
) -> None:
    aes, other, prefix = tmp_path / "team.key", tmp_path / "other.key", tmp_path / "rsa"
    pem, pub = tmp_path / "rsa.pem", tmp_path / "rsa.pub.pem"
    runs: list[tuple[str, Result]] = [
        ("keygen aes", cli("keygen", "--aes", aes)),
        ("keygen rsa", cli("keygen", "--rsa", prefix)),
    ]
    assert all(r.exit_code == 0 for _, r in runs), [r.stderr for _, r in runs]
    generate_aes_key_file(other)
    _learn_key_files(scanner, [aes, other], pem)
    source = tmp_path / "source.bin"
    source.write_bytes(DATA)
    url, url_rsa, url_multi = (f"s3://{bucket}/{k}" for k in ("aes", "rsa", "multi"))

    succeed = [
        ("put aes", ["put", source, url, "--key-file", aes, "--context", "team=a"]),
        ("put rsa", ["put", "-", url_rsa, "--rsa-public-key", pub]),
        (
            "put multi",
            [
                "put",
                source,
                url_multi,
                "--client-side",
                "--kms-key-id",
                kms_key,
                "--key-file",
                aes,
                "--rsa-public-key",
                pub,
                "--sse",
                "kms",
                "--sse-kms-key-id",
                kms_key,
            ],
        ),
        (
            "get aes file",
            ["get", url, tmp_path / "out.bin", "--key-file", aes, "--context", "team=a"],
        ),
        ("get aes range", ["get", url, "--key-file", aes, "--range", "100-5000"]),
        ("get rsa", ["get", url_rsa, "--rsa-private-key", pem]),
        ("get multi kms", ["get", url_multi, "--kms-key-id", kms_key]),
        ("head", ["head", url]),
        ("head json", ["head", url_multi, "--json"]),
        ("inspect", ["inspect", url]),
        ("inspect json", ["inspect", url_multi, "--json"]),
        ("ls json", ["ls", f"s3://{bucket}", "--json"]),
    ]
    for label, args in succeed:
        result = cli(*args, input=DATA)
        assert result.exit_code == 0, (label, result.stderr)
        runs.append((label, result))
    assert (tmp_path / "out.bin").read_bytes() == DATA

    readable = tmp_path / "readable.key"
    readable.write_bytes(aes.read_bytes())
    readable.chmod(0o640)
    s3 = connection.client("s3")
    body = bytearray(s3.get_object(Bucket=bucket, Key="aes")["Body"].read())
    body[-30] ^= 0x80
    marker = {"securestore-format": "aws-esdk-v2"}
    s3.put_object(Bucket=bucket, Key="tampered", Body=bytes(body), Metadata=marker)
    fail = [
        ("wrong key", ["get", url, "--key-file", other]),
        ("context mismatch", ["get", url, "--key-file", aes, "--context", "team=b"]),
        ("wrong key kind", ["get", url, "--rsa-private-key", pem]),
        ("group-readable key", ["get", url, "--key-file", readable]),
        ("missing key file", ["get", url, "--key-file", tmp_path / "missing.key"]),
        ("PEM as AES key", ["get", url, "--key-file", pem]),
        ("AES key as PEM", ["get", url_rsa, "--rsa-private-key", aes]),
        ("private PEM as public", ["put", "-", url, "--rsa-public-key", pem]),
        ("tampered", ["get", f"s3://{bucket}/tampered", "--key-file", aes, "--relocated"]),
        ("relocated", ["get", f"s3://{bucket}/tampered", "--key-file", aes]),
        ("keygen overwrite", ["keygen", "--aes", aes]),
    ]
    for label, args in fail:
        result = cli(*args, input=b"data")
        assert result.exit_code in (2, 3, 4), (label, result.exit_code, result.stderr)
        assert result.stderr.startswith("error: "), (label, result.stderr)
        assert "Traceback" not in result.stderr
        runs.append((label, result))
    runs.append(("rm", cli("rm", url)))

    assert len(scanner) >= 8
    scanner.assert_clean(_outputs(runs))


def test_debug_tracebacks_of_internal_errors_show_no_key_material(
    cli: Run, bucket: str, scanner: SecretScanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SECURESTORE_DEBUG=1`` prints the traceback of an internal error: never a key in it."""
    aes = tmp_path / "team.key"
    assert cli("keygen", "--aes", aes).exit_code == 0
    scanner.add_text("key file", aes.read_text().strip(), "key-file line")
    scanner.add("AES key", bytes(load_aes_key_file(aes)))
    assert cli("put", "-", f"s3://{bucket}/plain", input=DATA).exit_code == 0
    debug = {"SECURESTORE_DEBUG": "1"}
    runs = [
        # Internal errors through real paths (see tests/fuzz/test_cli_bad_input.py).
        ("ls untrusted", cli("ls", env={**debug, "AWS_CA_BUNDLE": ""})),
        (
            "huge range",
            cli(
                "get",
                f"s3://{bucket}/plain",
                "--key-file",
                aes,
                "--range",
                "0-" + "9" * 30,
                env=debug,
            ),
        ),
    ]

    def crash(self: RawAesKeyring, materials: object) -> object:
        raise RuntimeError("simulated bug while a key is loaded")

    monkeypatch.setattr(RawAesKeyring, "wrap", crash)
    runs.append(
        (
            "crash in keyring",
            cli("put", "-", f"s3://{bucket}/k", "--key-file", aes, input=b"x", env=debug),
        )
    )
    for label, result in runs:
        assert result.exit_code in (0, 2, 3, 4, 5), (label, result.stderr)
        if result.exit_code == 5:
            assert "Traceback (most recent call last)" in result.stderr, label
            assert "error: internal error:" in result.stderr
    assert runs[-1][1].exit_code == 5
    scanner.assert_clean(_outputs(runs))
