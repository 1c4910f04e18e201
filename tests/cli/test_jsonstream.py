"""The streamed JSON array of --json reports: json.dumps's layout, one item held at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from securestore_cli.jsonstream import echo_array

ITEMS = [{"key": "a", "n": 1}, {"key": "b\u202e\x1b", "nested": {"x": [1, 2]}}, {}]


def _run(items: list[dict[str, object]] | Iterator[dict[str, object]]) -> str:
    @click.command()
    def command() -> None:
        echo_array(items)

    result = CliRunner().invoke(command, [])
    return result.stdout


@pytest.mark.parametrize("items", [ITEMS, ITEMS[:1], []])
def test_the_same_text_as_json_dumps(items: list[dict[str, object]]) -> None:
    assert _run(items) == json.dumps(items, indent=2) + "\n"


def test_a_failure_midway_leaves_the_array_unclosed() -> None:
    def failing() -> Iterator[dict[str, object]]:
        yield {"key": "a"}
        raise RuntimeError("listing failed")

    text = _run(failing())
    assert text.startswith("[")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize("objects", [ITEMS, []])
def test_a_document_reads_as_json_dumps_would_write_it(objects: list[dict[str, object]]) -> None:
    from securestore_cli.jsonstream import DocumentWriter

    head = {"bucket": "b", "prefix": "p/"}
    tail = {"summary": {"failed": 1, "done": 2}}

    @click.command()
    def command() -> None:
        writer = DocumentWriter(head, "objects")
        for item in objects:
            writer.add(item)
        writer.close(tail)

    text = CliRunner().invoke(command, []).stdout
    assert text == json.dumps({**head, "objects": objects, **tail}, indent=2) + "\n"
