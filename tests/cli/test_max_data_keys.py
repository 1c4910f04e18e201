"""``--max-data-keys``: put refuses more wrapped keys than the limit, get/inspect raise it."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import Run, stderr_lines


def test_put_get_inspect_with_eleven_keys(run: Run, bucket: str, tmp_path: Path) -> None:
    files = []
    for index in range(11):
        path = tmp_path / f"k{index}.aes"
        assert run("keygen", "--aes", str(path)).exit_code == 0
        files.append(path)
    options = [arg for path in files for arg in ("--key-file", str(path))]
    url = f"s3://{bucket}/eleven"

    refused = run("put", "-", url, *options, input=b"payload")
    assert refused.exit_code == 2, refused.stderr
    assert "11 encrypted data keys; the limit is 10" in stderr_lines(refused, "error:")[0]
    assert "--max-data-keys" in stderr_lines(refused, "hint:")[0]
    assert run("inspect", url).exit_code == 4  # nothing was uploaded

    written = run("put", "-", url, *options, "--max-data-keys", "11", input=b"payload")
    assert written.exit_code == 0, written.stderr

    one = ["--key-file", str(files[3])]
    default = run("get", url, *one)
    assert default.exit_code == 3
    assert "11 encrypted data keys; the limit is 10" in stderr_lines(default, "error:")[0]
    assert stderr_lines(default, "hint:") == [
        "hint: raise the limit with max_data_keys / --max-data-keys if you trust the writer"
    ]
    assert "modified" not in default.stderr  # a limit, not tampering
    raised = run("get", url, *one, "--max-data-keys", "11")
    assert raised.exit_code == 0, raised.stderr
    assert raised.stdout_bytes == b"payload"

    assert run("inspect", url).exit_code == 3
    shown = run("inspect", url, "--max-data-keys", "11")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.count("data key for:") == 11


def test_max_data_keys_needs_client_side(run: Run, bucket: str) -> None:
    result = run("put", "-", f"s3://{bucket}/x", "--max-data-keys", "3", input=b"x")
    assert result.exit_code == 2
    assert stderr_lines(result, "error:") == ["error: --max-data-keys goes with --client-side"]
    zero = run("get", f"s3://{bucket}/x", "--max-data-keys", "0")
    assert zero.exit_code == 2
