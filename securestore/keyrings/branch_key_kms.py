"""The KMS side of the branch key store (:mod:`securestore.keyrings.branch_keys`).

Every branch key ciphertext (``enc``) is made, checked and opened by KMS under
its item's encryption context (spec ``framework/branch-key-store.md``,
"Encryption Context"): ``GenerateDataKeyWithoutPlaintext`` for a new key,
``ReEncrypt`` for its ACTIVE copy and to authenticate an item before rotation,
``Decrypt`` to read one. botocore errors become :class:`KeyUnavailableError`
naming the operation, the branch key and the KMS key; a ciphertext that does not
belong to its context is a :class:`BranchKeyStoreError` ("did not authenticate").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from securestore.errors import BranchKeyStoreError, KeyUnavailableError
from securestore.keyrings.branch_key_records import (
    ACTIVE_TYPE,
    BRANCH_KEY_LENGTH,
    VERSION_PREFIX,
    kms_context,
)
from securestore.keyrings.kms_arn import quote

__all__ = ["BranchKeyKms", "KeyStoreKmsClient", "error_code"]

# What KMS answers when a ciphertext and its encryption context do not belong together.
_NOT_AUTHENTIC = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KeyStoreKmsClient(Protocol):
    """The part of a boto3 KMS client the key store uses."""

    def generate_data_key_without_plaintext(self, **kwargs: Any) -> dict[str, Any]:
        """KMS GenerateDataKeyWithoutPlaintext."""
        ...

    def re_encrypt(self, **kwargs: Any) -> dict[str, Any]:
        """KMS ReEncrypt."""
        ...

    def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        """KMS Decrypt."""
        ...


def error_code(error: ClientError) -> str:
    """The error code of an AWS answer, escaped unless it is plain letters and digits."""
    code = str(error.response.get("Error", {}).get("Code", "unknown"))
    return code if code.isalnum() else quote(code)


class BranchKeyKms:
    """The KMS calls of one branch key store.

    Args:
        kms: a boto3 KMS client.
        table_name: the key store's table, for error messages.
        logical_name: the logical key store name bound into every KMS context.
        kms_key_arn: the store's KMS key (``None``: discovery), for error messages.
        grant_tokens: KMS grant tokens for every call.
    """

    def __init__(
        self,
        kms: KeyStoreKmsClient,
        *,
        table_name: str,
        logical_name: str,
        kms_key_arn: str | None,
        grant_tokens: Sequence[str],
    ) -> None:
        self._kms = kms
        self.table_name = table_name
        self.logical_name = logical_name
        self.kms_key_arn = kms_key_arn
        self._grant_tokens = list(grant_tokens)

    def generate(self, item: Mapping[str, str], key_arn: str) -> bytes:
        """A new branch key's ciphertext, bound to ``item``'s context."""
        try:
            response = self._kms.generate_data_key_without_plaintext(
                KeyId=key_arn,
                NumberOfBytes=BRANCH_KEY_LENGTH,
                EncryptionContext=kms_context(item, self.logical_name),
                GrantTokens=self._grant_tokens,
            )
        except (ClientError, BotoCoreError) as error:
            raise self.error(
                "GenerateDataKeyWithoutPlaintext", item["branch-key-id"], error
            ) from error
        blob = response.get("CiphertextBlob")
        if not isinstance(blob, bytes):
            raise KeyUnavailableError(f"KMS returned no ciphertext for key {key_arn}")
        return blob

    def wrapped_pair(
        self, base: Mapping[str, str], version: str, key_arn: str
    ) -> tuple[bytes, bytes]:
        """DECRYPT_ONLY and ACTIVE ciphertexts of one new branch key version."""
        decrypt_only_item = {**base, "type": VERSION_PREFIX + version}
        active_item = {**base, "type": ACTIVE_TYPE, "version": VERSION_PREFIX + version}
        decrypt_only = self.generate(decrypt_only_item, key_arn)
        try:
            response = self._kms.re_encrypt(
                CiphertextBlob=decrypt_only,
                SourceEncryptionContext=kms_context(decrypt_only_item, self.logical_name),
                SourceKeyId=key_arn,
                DestinationKeyId=key_arn,
                DestinationEncryptionContext=kms_context(active_item, self.logical_name),
                GrantTokens=self._grant_tokens,
            )
        except (ClientError, BotoCoreError) as error:
            raise self.error("ReEncrypt", base["branch-key-id"], error) from error
        active = response.get("CiphertextBlob")
        if not isinstance(active, bytes):
            raise KeyUnavailableError(f"KMS ReEncrypt returned no ciphertext for key {key_arn}")
        return decrypt_only, active

    def authenticate(
        self, blob: bytes, context: dict[str, str], key_arn: str, branch_key_id: str
    ) -> None:
        """Have KMS confirm ``blob`` belongs to ``context`` (spec "Authenticating a Keystore
        item"): a ``ReEncrypt`` to itself, whose answer is not kept."""
        self._on_item(
            "ReEncrypt",
            branch_key_id,
            self._kms.re_encrypt,
            CiphertextBlob=blob,
            SourceEncryptionContext=context,
            SourceKeyId=key_arn,
            DestinationKeyId=key_arn,
            DestinationEncryptionContext=context,
            GrantTokens=self._grant_tokens,
        )

    def decrypt(
        self, blob: bytes, context: dict[str, str], key_arn: str, branch_key_id: str
    ) -> bytearray:
        """KMS Decrypt of ``enc`` (spec "AWS KMS Branch Key Decryption")."""
        response = self._on_item(
            "Decrypt",
            branch_key_id,
            self._kms.decrypt,
            KeyId=key_arn,
            CiphertextBlob=blob,
            EncryptionContext=context,
            GrantTokens=self._grant_tokens,
        )
        if response.get("KeyId") != key_arn:
            raise KeyUnavailableError(
                f"KMS Decrypt for key {key_arn} answered for another key; refused",
                hint="check the KMS endpoint in use: a genuine KMS names the key it used",
            )
        plain = response.get("Plaintext")
        if not isinstance(plain, bytes | bytearray) or len(plain) != BRANCH_KEY_LENGTH:
            raise KeyUnavailableError(f"KMS returned a branch key of the wrong length ({key_arn})")
        return bytearray(plain)

    def _on_item(
        self, operation: str, branch_key_id: str, call: Callable[..., dict[str, Any]], **kw: Any
    ) -> dict[str, Any]:
        """A KMS call on a stored item's ``enc``: KMS refusing it under the item's context
        means the item did not authenticate (:meth:`not_authentic`)."""
        try:
            return call(**kw)
        except ClientError as error:
            if error_code(error) in _NOT_AUTHENTIC:
                raise self.not_authentic(branch_key_id) from error
            raise self.error(operation, branch_key_id, error) from error
        except BotoCoreError as error:
            raise self.error(operation, branch_key_id, error) from error

    def not_authentic(self, branch_key_id: str) -> BranchKeyStoreError:
        """The error for an item KMS refused under its context."""
        return BranchKeyStoreError(
            f"branch key {quote(branch_key_id)} did not authenticate: its item in "
            f"{quote(self.table_name)} was changed or belongs to another key store",
        )

    def error(self, operation: str, branch_key_id: str, error: Exception) -> KeyUnavailableError:
        """The error for a failed KMS call: operation, branch key, KMS key and code only."""
        detail = error_code(error) if isinstance(error, ClientError) else type(error).__name__
        key = self.kms_key_arn or "(discovery)"
        return KeyUnavailableError(
            f"KMS {operation} failed for branch key {quote(branch_key_id)} (KMS key {key}): "
            f"{detail}"
        )
