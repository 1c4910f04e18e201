"""Keyrings: wrap data keys on encrypt, unwrap them on decrypt.

The contract (:class:`Keyring`, materials, :class:`EncryptedDataKey`) lives in
:mod:`securestore.message.materials`, re-exported here.
"""

from securestore.keyrings.aws_kms import AwsKmsDiscoveryKeyring, AwsKmsKeyring, DiscoveryFilter
from securestore.keyrings.branch_keys import BranchKeyMaterials, BranchKeyStore
from securestore.keyrings.hierarchy import AwsKmsHierarchicalKeyring
from securestore.keyrings.keyfiles import (
    generate_aes_key_file,
    generate_rsa_key_files,
    load_aes_key_file,
    load_rsa_private_key_file,
    load_rsa_public_key_file,
)
from securestore.keyrings.multi import MultiKeyring
from securestore.keyrings.raw_aes import RawAesKeyring
from securestore.keyrings.raw_rsa import RawRsaKeyring, load_private_key_pem, load_public_key_pem
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
)

__all__ = [
    "AwsKmsDiscoveryKeyring",
    "AwsKmsHierarchicalKeyring",
    "AwsKmsKeyring",
    "BranchKeyMaterials",
    "BranchKeyStore",
    "DecryptionMaterials",
    "DiscoveryFilter",
    "EncryptedDataKey",
    "EncryptionMaterials",
    "Keyring",
    "MultiKeyring",
    "RawAesKeyring",
    "RawRsaKeyring",
    "generate_aes_key_file",
    "generate_rsa_key_files",
    "load_aes_key_file",
    "load_private_key_pem",
    "load_public_key_pem",
    "load_rsa_private_key_file",
    "load_rsa_public_key_file",
]
