"""`securestore encrypt` / `decrypt` through click's runner: files, pipes, trees, exit codes.

No endpoint: these commands never touch S3 (a KMS key is the only network use).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from securestore.localfile import PARTIAL_SUFFIX
from tests.message import esdk

Run = Callable[..., Result]

#: No AWS configuration reaches the commands: they must not need any.
ENV = {"AWS_ENDPOINT_URL": "", "AWS_CA_BUNDLE": "", "AWS_PROFILE": ""}


@pytest.fixture
def run() -> Run:
    def invoke(*args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(main_group, list(args), env=ENV, input=input)

    return invoke


@pytest.fixture
def key(run: Run, tmp_path: Path) -> Path:
    path = tmp_path / "team.key"
    assert run("keygen", "--aes", str(path)).exit_code == 0
    return path


def error_line(result: Result) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("error:"))


def test_file_round_trip_with_context(run: Run, key: Path, tmp_path: Path) -> None:
    data = os.urandom(300_001)
    (tmp_path / "in").write_bytes(data)
    enc = run(
        "encrypt", str(tmp_path / "in"), "-o", str(tmp_path / "ct"), "--key-file", str(key),
        "--context", "team=a",
    )  # fmt: skip
    assert enc.exit_code == 0, enc.stderr
    assert "suite 0x0478" in enc.stderr
    dec = run(
        "decrypt", str(tmp_path / "ct"), "-o", str(tmp_path / "out"), "--key-file", str(key),
        "--context", "team=a",
    )  # fmt: skip
    assert dec.exit_code == 0, dec.stderr
    assert (tmp_path / "out").read_bytes() == data
    wrong = run(
        "decrypt", str(tmp_path / "ct"), "-o", str(tmp_path / "w"), "--key-file", str(key),
        "--context", "team=b",
    )  # fmt: skip
    assert wrong.exit_code == 3
    assert not (tmp_path / "w").exists()


def test_pipes_stdin_to_stdout(run: Run, key: Path) -> None:
    data = os.urandom(70_000)
    enc = run("encrypt", "-", "-o", "-", "--key-file", str(key), input=data)
    assert enc.exit_code == 0, enc.stderr
    ciphertext = enc.stdout_bytes
    assert ciphertext[:2] == b"\x02\x04"  # message version 2, suite 0x0478
    dec = run("decrypt", "-", "-o", "-", "--key-file", str(key), input=ciphertext)
    assert dec.exit_code == 0, dec.stderr
    assert dec.stdout_bytes == data


def test_tampered_message_exit_3_and_nothing_unauthenticated(
    run: Run, key: Path, tmp_path: Path
) -> None:
    enc = run("encrypt", "-", "-o", "-", "--key-file", str(key), input=b"secret" * 100)
    damaged = bytearray(enc.stdout_bytes)
    damaged[-1] ^= 1  # the only (final) frame's tag
    out = run("decrypt", "-", "-o", "-", "--key-file", str(key), input=bytes(damaged))
    assert out.exit_code == 3
    assert out.stdout_bytes == b""
    assert error_line(out).startswith("error: authentication failed")
    (tmp_path / "ct").write_bytes(damaged)
    (tmp_path / "out").write_bytes(b"keep")
    to_file = run("decrypt", str(tmp_path / "ct"), "-o", str(tmp_path / "out"), "--key-file",
                  str(key))  # fmt: skip
    assert to_file.exit_code == 3
    assert (tmp_path / "out").read_bytes() == b"keep"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]


def test_reads_what_the_esdk_wrote_signed(run: Run, key: Path, tmp_path: Path) -> None:
    from securestore.keyrings import load_aes_key_file

    master = esdk.aes_master_key("securestore", "default", bytes(load_aes_key_file(key)))
    data = os.urandom(10_000)
    message = esdk.esdk_encrypt(data, master, frame_length=4096, algorithm=esdk.COMMITTING_SIGNED)
    (tmp_path / "ct").write_bytes(message)
    dec = run("decrypt", str(tmp_path / "ct"), "-o", str(tmp_path / "out"), "--key-file",
              str(key))  # fmt: skip
    assert dec.exit_code == 0, dec.stderr
    assert (tmp_path / "out").read_bytes() == data


def test_recursive_round_trip_with_suffix(run: Run, key: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(5000))
    enc = run("encrypt", str(src), "-o", str(tmp_path / "enc"), "-r", "--suffix", ".sse",
              "--key-file", str(key))  # fmt: skip
    assert enc.exit_code == 0, enc.stderr
    assert sorted(p.name for p in (tmp_path / "enc").rglob("*.sse")) == ["a.txt.sse", "b.bin.sse"]
    dec = run("decrypt", str(tmp_path / "enc"), "-o", str(tmp_path / "dec"), "--recursive",
              "--suffix", ".sse", "--key-file", str(key))  # fmt: skip
    assert dec.exit_code == 0, dec.stderr
    assert (tmp_path / "dec" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "dec" / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert "2 file(s)" in dec.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["decrypt", "{tmp}/ct", "-o", "{tmp}/o"], 2, "error: no key given"),
        (["encrypt", "{tmp}/ct", "-o", "{tmp}/o"], 2, "error: no key given"),
        (["encrypt", "{tmp}", "-o", "{tmp}/o", "--key-file", "{key}"], 2, "error: is a directory"),
        (["encrypt", "{tmp}/missing", "-o", "{tmp}/o", "--key-file", "{key}"], 2,
         "error: no such file"),
        (["encrypt", "-", "-o", "{tmp}/o", "-r", "--key-file", "{key}"], 2,
         "error: --recursive needs a directory"),
        (["encrypt", "{tmp}/ct", "-o", "{tmp}/ct", "--key-file", "{key}"], 2,
         "error: the output is the input"),
        (["decrypt", "{tmp}/ct", "-o", "{tmp}/o", "--key-file", "{key}"], 3,
         "error: "),
    ],
)  # fmt: skip
def test_usage_errors(
    run: Run, key: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    (tmp_path / "ct").write_bytes(b"not a message at all")
    argv = [a.format(tmp=tmp_path, key=key) for a in args]
    result = run(*argv)
    assert result.exit_code == code, result.stderr
    assert error_line(result).startswith(message)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
    assert (tmp_path / "ct").read_bytes() == b"not a message at all"


def test_read_only_output_needs_force(run: Run, key: Path, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"data")
    (tmp_path / "ct").write_bytes(b"old")
    (tmp_path / "ct").chmod(0o444)
    refused = run("encrypt", str(tmp_path / "in"), "-o", str(tmp_path / "ct"), "--key-file",
                  str(key))  # fmt: skip
    assert refused.exit_code == 2
    assert "read-only" in error_line(refused)
    forced = run("encrypt", str(tmp_path / "in"), "-o", str(tmp_path / "ct"), "--key-file",
                 str(key), "--force")  # fmt: skip
    assert forced.exit_code == 0, forced.stderr
    assert (tmp_path / "ct").read_bytes() != b"old"


def _awkward_tree(root: Path, outside: Path) -> None:
    """A file, links to a file and to a directory, a FIFO, a broken link, a loop."""
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha")
    (outside / "linked").mkdir(parents=True)
    (outside / "linked" / "in.txt").write_bytes(b"through a directory link")
    (outside / "target.txt").write_bytes(b"through a file link")
    os.symlink(outside / "target.txt", root / "file-link.txt")
    os.symlink(outside / "linked", root / "dir-link")
    os.symlink(root / "missing", root / "broken")
    os.symlink(root, root / "sub" / "loop")
    os.mkfifo(root / "pipe")


def _warnings(stderr: str) -> list[str]:
    return sorted(line for line in stderr.splitlines() if line.startswith("warning:"))


def test_recursive_follows_links_and_warns_on_every_skip(
    run: Run,
    key: Path,
    tmp_path: Path,
) -> None:
    src, enc, dec = tmp_path / "src", tmp_path / "enc", tmp_path / "dec"
    _awkward_tree(src, tmp_path / "outside")
    result = run("encrypt", str(src), "-o", str(enc), "-r", "--key-file", str(key))
    assert result.exit_code == 0, result.stderr
    # Like cp --recursive: links are followed, the rest is skipped out loud.
    assert _warnings(result.stderr) == [
        f"warning: skipped {src / 'broken'}: broken symbolic link",
        f"warning: skipped {src / 'pipe'}: not a regular file",
        f"warning: skipped {src / 'sub' / 'loop'}: symbolic link loop",
    ]
    assert "3 file(s)" in result.stderr
    assert sorted(str(p.relative_to(enc)) for p in enc.rglob("*.encrypted")) == [
        "a.txt.encrypted",
        "dir-link/in.txt.encrypted",
        "file-link.txt.encrypted",
    ]
    os.mkfifo(enc / "fifo.encrypted")
    back = run("decrypt", str(enc), "-o", str(dec), "-r", "--key-file", str(key))
    assert back.exit_code == 0, back.stderr
    assert _warnings(back.stderr) == [
        f"warning: skipped {enc / 'fifo.encrypted'}: not a regular file"
    ]
    assert (dec / "dir-link" / "in.txt").read_bytes() == b"through a directory link"
    assert (dec / "file-link.txt").read_bytes() == b"through a file link"


def test_tree_errors_name_the_file_that_failed(
    run: Run,
    key: Path,
    tmp_path: Path,
) -> None:
    src, enc = tmp_path / "src", tmp_path / "enc"
    src.mkdir()
    (src / "f1.bin").write_bytes(os.urandom(100))
    (src / "f2.bin").write_bytes(os.urandom(10_000))
    assert run("encrypt", str(src), "-o", str(enc), "-r", "--key-file", str(key)).exit_code == 0
    damaged = enc / "f2.bin.encrypted"
    damaged.write_bytes(damaged.read_bytes()[:-200])
    result = run("decrypt", str(enc), "-o", str(tmp_path / "dec"), "-r", "--key-file", str(key))
    assert result.exit_code == 3, result.stderr
    line = error_line(result)
    assert line.startswith(f"error: {damaged}: "), line
    assert "truncated" in line
    # encrypt names its file too (here one it cannot read).
    (src / "f1.bin").chmod(0)
    try:
        again = run("encrypt", str(src), "-o", str(tmp_path / "e2"), "-r", "--key-file", str(key))
    finally:
        (src / "f1.bin").chmod(0o600)
    if os.geteuid() != 0:  # root reads anything
        assert again.exit_code == 2, again.stderr
        assert str(src / "f1.bin") in error_line(again)


def test_decrypting_plaintext_says_it_is_not_a_message(run: Run, key: Path, tmp_path: Path) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_bytes(b"some plaintext\n")
    result = run("decrypt", str(plain), "-o", str(tmp_path / "out"), "--key-file", str(key))
    assert result.exit_code == 3, result.stderr
    line = error_line(result)
    assert line.startswith("error: not a client-side message: "), line
    assert "an AWS Encryption SDK message starts with byte 0x02" in line
    assert "nothing to decrypt" in result.stderr
    # A damaged message (its header begun well) stays an error about that message.
    enc = tmp_path / "ct"
    assert run("encrypt", str(plain), "-o", str(enc), "--key-file", str(key)).exit_code == 0
    data = bytearray(enc.read_bytes())
    data[-40] ^= 1
    enc.write_bytes(bytes(data))
    damaged = run("decrypt", str(enc), "-o", str(tmp_path / "out"), "--key-file", str(key))
    assert damaged.exit_code == 3
    assert "not a client-side message" not in damaged.stderr


def test_cli_hints_name_cli_options_not_library_parameters() -> None:
    from securestore_cli.errors import cli_wording

    assert (
        cli_wording("read it with relocated=True (CLI: --relocated)") == "read it with --relocated"
    )
    assert (
        cli_wording(
            "give a keyring (keyring= or a ClientSide mode; CLI: --client-side or --key-file)"
        )
        == "give a keyring (--client-side or --key-file)"
    )
    assert cli_wording("add --force (library: overwrite_readonly=True); or") == "add --force; or"
    assert (
        cli_wording("with the context (CLI: --context K=V)") == "with the context (--context K=V)"
    )


def test_a_link_to_the_output_is_not_encrypted_into_itself(
    run: Run, key: Path, tmp_path: Path
) -> None:
    src, vault = tmp_path / "src", tmp_path / "vault"
    src.mkdir()
    (src / "a.txt").write_bytes(b"alpha")
    vault.mkdir()
    (vault / "old.encrypted").write_bytes(b"from an earlier run")
    os.symlink(vault, src / "to-vault")
    result = run("encrypt", str(src), "-o", str(vault), "-r", "--key-file", str(key))
    assert result.exit_code == 0, result.stderr
    # Including what this run wrote before the walk reached the link.
    inside = f"inside the output directory {vault}"
    assert _warnings(result.stderr) == [
        f"warning: skipped {src / 'to-vault' / name}: {inside}"
        for name in ("a.txt.encrypted", "old.encrypted")
    ]
    assert sorted(str(p.relative_to(vault)) for p in vault.rglob("*")) == [
        "a.txt.encrypted",
        "old.encrypted",
    ]
