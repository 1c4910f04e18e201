"""The AWS Encryption SDK message format (version 2, committing suites), framed.

Pure core: no I/O beyond the streams handed in, no AWS calls. See docs/format.md.
"""

from securestore.message import sizes
from securestore.message.context import serialize_context, validate_user_context
from securestore.message.decrypt import (
    DecryptingReader,
    Decryptor,
    decrypt,
    decrypt_stream,
    verify_signature,
)
from securestore.message.encrypt import (
    DEFAULT_FRAME_LENGTH,
    DEFAULT_SUITE,
    Encryptor,
    encrypt,
    encrypt_stream,
)
from securestore.message.header import (
    Header,
    HeaderLimits,
    HeaderParser,
    parse,
    parse_from,
    serialize,
)
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
)
from securestore.message.sizes import Layout
from securestore.message.suites import AlgorithmSuite, DecryptPolicy

__all__ = [
    "DEFAULT_FRAME_LENGTH",
    "DEFAULT_SUITE",
    "AlgorithmSuite",
    "DecryptPolicy",
    "DecryptingReader",
    "DecryptionMaterials",
    "Decryptor",
    "EncryptedDataKey",
    "EncryptionMaterials",
    "Encryptor",
    "Header",
    "HeaderLimits",
    "HeaderParser",
    "Keyring",
    "Layout",
    "decrypt",
    "decrypt_stream",
    "encrypt",
    "encrypt_stream",
    "parse",
    "parse_from",
    "serialize",
    "serialize_context",
    "sizes",
    "validate_user_context",
    "verify_signature",
]
