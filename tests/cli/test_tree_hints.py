"""A tree command's summary carries the hint of each distinct cause of its failures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from securestore_cli.treelog import cause_hints

from securestore import SecureStore
from securestore.errors import AccessDeniedError, StorageError
from securestore.tree import Failure
from tests.support.cli import Run, aes_key_file, stderr_lines
from tests.tree.conftest import make_tree


def test_summary_names_each_cause_hint_once(
    run: Run, make_store: Callable[..., SecureStore], bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "w").mkdir(mode=0o700)
    (tmp_path / "r").mkdir(mode=0o700)
    writer = aes_key_file(run, tmp_path / "w")
    reader = aes_key_file(run, tmp_path / "r")
    make_tree(tmp_path / "src", {"a.txt": b"alpha", "b.txt": b"beta", "c.txt": b"gamma"})
    url = f"s3://{bucket}/t/"
    copied = run("cp", str(tmp_path / "src"), url, "-r", "--key-file", str(writer))
    assert copied.exit_code == 0, copied.output
    make_store().put("t/plain.txt", b"plain")  # not client-side: refused (exit 3)
    result = run("cp", url, str(tmp_path / "out"), "--recursive", "--key-file", str(reader))
    assert result.exit_code == 3, result.output  # the refusal outranks the key errors (4)
    assert len(stderr_lines(result, "failed:")) == 4, result.stderr
    assert stderr_lines(result, "error:") == ["error: 4 of 4 transfers failed"]
    [hint] = stderr_lines(result, "hint:")
    # Three files, one cause: its hint once (the single-object command's own hint).
    single = run("get", f"{url}a.txt", str(tmp_path / "one"), "--key-file", str(reader))
    [key_hint] = stderr_lines(single, "hint:")
    assert hint.count(key_hint.removeprefix("hint: ")) == 1, (hint, key_hint)
    assert "no matching key: " in hint
    # The plain object's refusal has its own remedy.
    plain = run("get", f"{url}plain.txt", str(tmp_path / "two"), "--key-file", str(reader))
    [plain_hint] = stderr_lines(plain, "hint:")
    assert "integrity: " + plain_hint.removeprefix("hint: ") in hint


def test_cause_hints_are_distinct_labelled_and_bounded() -> None:
    def failed(error: StorageError) -> Failure:
        return Failure("src", "dst", error)

    same = [failed(AccessDeniedError("denied", hint="check the policy")) for _ in range(3)]
    assert cause_hints(same) == ["access denied: check the policy"]
    assert cause_hints([failed(StorageError("no hint"))]) == []
    many = [failed(StorageError("x", hint=f"remedy {n}")) for n in range(6)]
    assert cause_hints(many) == [
        "remedy 0",
        "remedy 1",
        "remedy 2",
        "remedy 3",
        "2 more cause(s): see the failed: lines",
    ]
