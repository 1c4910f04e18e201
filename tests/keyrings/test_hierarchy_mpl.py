"""Interop with the MPL's hierarchical keyring, on one moto DynamoDB table (SECURESTORE_MPL=1).

The MPL (``aws-cryptographic-material-providers`` with ``aws-encryption-sdk>=4``)
pins ``cryptography<51``, so it lives in a venv of its own: ``.mpl-venv`` at the
repository root, or ``SECURESTORE_MPL_VENV``. Create it with
``python3 -m venv .mpl-venv && .mpl-venv/bin/pip install 'aws-encryption-sdk[MPL]>=4'``.
``mpl_hierarchy.py`` is the MPL side. Checked both ways:

- branch keys securestore creates (and rotates) are read by the MPL key store, and
  messages securestore writes with them decrypt with the ESDK + MPL keyring;
- a branch key the MPL creates and rotates is read by securestore's key store, and
  the ESDK's messages under both its versions decrypt with securestore's keyring.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from securestore.keyrings.branch_keys import BranchKeyStore
from securestore.keyrings.hierarchy import AwsKmsHierarchicalKeyring
from securestore.message import decrypt, encrypt, parse
from tests.conftest import Endpoint

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("SECURESTORE_MPL_VENV", ROOT / ".mpl-venv"))

pytestmark = pytest.mark.skipif(
    os.environ.get("SECURESTORE_MPL") != "1",
    reason="set SECURESTORE_MPL=1 to run the MPL hierarchical keyring interop check "
    "(needs the MPL in its own venv, .mpl-venv or SECURESTORE_MPL_VENV)",
)


def _mpl(job: dict[str, Any]) -> dict[str, Any]:
    python = VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"no MPL venv at {VENV}: see this module's docstring")
    proc = subprocess.run(
        [str(python), str(Path(__file__).with_name("mpl_hierarchy.py"))],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.timeout(600)
def test_messages_cross_between_securestore_and_the_mpl(
    tls_endpoint: Endpoint, connection: Connection, kms_key: str
) -> None:
    table = f"mpl-{uuid.uuid4().hex[:12]}"
    store = BranchKeyStore(
        table,
        kms_key_arn=kms_key,
        dynamodb=connection.client("dynamodb"),
        kms=connection.client("kms"),
    )
    store.create_table()
    ours = store.create_branch_key("ours", encryption_context={"tenant": "securestore"})
    first = store.get_active_branch_key(ours).version
    context = {"securestore:bucket": "b", "securestore:key": "k/1"}
    jobs = []
    now = [0.0]
    keyring = AwsKmsHierarchicalKeyring(ours, store, ttl_seconds=60, clock=lambda: now[0])
    for i in range(2):
        plain = b"securestore message %d " % i * 300
        message = encrypt(plain, keyring, encryption_context=context)
        jobs.append((plain, message))
        second = store.version_branch_key(ours)
        now[0] += 61
    job = {
        "endpoint": tls_endpoint.env,
        "table": table,
        "kms_key": kms_key,
        "decrypt": [
            {
                "branch_key_id": ours,
                "message": base64.b64encode(bytes(m)).decode(),
                "context": context,
            }
            for _, m in jobs
        ],
        "read_versions": [[ours, first]],
        "encrypt": {
            "branch_key_id": "theirs",
            "context": context,
            "plaintext": base64.b64encode(b"from the MPL " * 500).decode(),
        },
    }
    result = _mpl(job)
    # securestore -> MPL: both messages (two branch key versions) decrypt.
    assert [base64.b64decode(p) for p in result["decrypted"]] == [p for p, _ in jobs]
    assert result["versions"] == [first]
    assert result["active"] == [second]
    # MPL -> securestore: its branch key, both versions, through our key store.
    theirs = result["encrypted"]["branch_key_id"]
    reader = AwsKmsHierarchicalKeyring(theirs, store, ttl_seconds=60)
    versions = set()
    for encoded in result["encrypted"]["messages"]:
        theirs_message = base64.b64decode(encoded)
        header = parse(memoryview(theirs_message))
        (edk,) = header.encrypted_data_keys
        versions.add(edk.ciphertext[28:44])
        assert decrypt(theirs_message, reader, expected_context=context) == b"from the MPL " * 500
    assert len(versions) == 2
    assert store.get_active_branch_key(theirs).encryption_context == {"tenant": "mpl"}
    # And securestore can rotate the MPL's branch key.
    assert store.version_branch_key(theirs)
