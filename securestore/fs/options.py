"""How a filesystem's options (the CLI's option names, in Python form) become stores.

``storage_options`` and ``fsspec.filesystem("securestore", ...)`` take the same
choices as ``securestore put``/``get``: key options select client-side
encryption (a key option alone means client-side for writes, and then every
read must decrypt: an object that is not a message is refused), otherwise the
server-side mode comes from ``sse``/``kms_key_id``/``context``. Reading needs
only the key options, as ``securestore get`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from securestore.clientside import ClientSide
from securestore.errors import ConfigurationError
from securestore.keyrings import MultiKeyring
from securestore.keyrings.options import (
    DEFAULT_KEY_NAME,
    AccountDiscoveryKeyring,
    combine,
    kms_keyrings,
    raw_keyrings,
)
from securestore.message import DEFAULT_FRAME_LENGTH, Keyring
from securestore.modes import EncryptionMode, parse_mode
from securestore.store import SecureStore
from securestore.transfer import TransferConfig
from securestore.transport import Connection

__all__ = ["StoreFactory", "StoreOptions", "names", "pairs"]

#: Builds the store of one bucket.
StoreFactory = Callable[[str], SecureStore]


def names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """One option value or several (``key_file="k"`` or ``key_file=["k1", "k2"]``)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def pairs(value: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """A context as a mapping, or as ``K=V`` strings like the CLI's ``--context``."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for pair in [value] if isinstance(value, str) else value:
        name, sep, text = pair.partition("=")
        if not sep or not name or name in out:
            raise ConfigurationError(f"invalid context pair {pair!r}: expected unique KEY=VALUE")
        out[name] = text
    return out


@dataclass(frozen=True)
class StoreOptions:
    """What one filesystem reads and writes with.

    ``factory`` builds a bucket's store (its mode is what writes use);
    ``require`` is what every read demands (``None``: the store's own rules),
    ``context`` the pairs a client-side read must find, ``relocated`` whether a
    copied message is accepted.
    """

    factory: StoreFactory
    require: EncryptionMode | None
    context: dict[str, str] | None
    relocated: bool

    @property
    def client_side(self) -> bool:
        """Whether every read of this filesystem decrypts a message."""
        return isinstance(self.require, ClientSide)

    @classmethod
    def build(
        cls,
        *,
        store: StoreFactory | None,
        keyring: Keyring | None,
        connection: Connection | None,
        key_file: tuple[str, ...],
        rsa_public_key: tuple[str, ...],
        rsa_private_key: tuple[str, ...],
        kms_key_id: tuple[str, ...],
        key_name: str = DEFAULT_KEY_NAME,
        context: dict[str, str],
        sse: str | None,
        sse_kms_key_id: str | None,
        client_side: bool,
        require: str | None,
        max_data_keys: int | None,
        frame_length: int | None,
        relocated: bool,
        transfer: TransferConfig | None,
        endpoint_url: str | None,
        ca_bundle: str | None,
        region: str | None,
        profile: str | None,
    ) -> StoreOptions:
        """Check the options and decide the modes, as the CLI's ``put`` and ``get`` do.

        Raises:
            ConfigurationError: contradictory or incomplete options.
        """
        if any(not key_id.strip() for key_id in kms_key_id):
            raise ConfigurationError("an empty kms_key_id was given (is a variable unset?)")
        if store is not None:
            given = [
                name
                for name, value in (
                    ("keyring", keyring),
                    ("key_file", key_file),
                    ("rsa_public_key", rsa_public_key),
                    ("rsa_private_key", rsa_private_key),
                    ("kms_key_id", kms_key_id),
                    ("sse", sse),
                    ("client_side", client_side),
                    ("require", require),
                    ("connection", connection),
                    ("endpoint_url", endpoint_url),
                )
                if value
            ]
            if given:
                raise ConfigurationError(
                    f"store= brings its own configuration; drop {', '.join(given)}"
                )
            return cls(store, None, context or None, relocated)
        conn = connection or Connection(
            profile=profile, region=region, endpoint_url=endpoint_url, ca_bundle=ca_bundle
        )
        layer = parse_mode(sse, kms_key_id=sse_kms_key_id) if sse else None
        frames = frame_length or DEFAULT_FRAME_LENGTH
        write_mode: EncryptionMode
        store_keyring: Keyring | None
        if keyring is not None or client_side or key_file or rsa_public_key or rsa_private_key:
            writing = keyring or combine(
                kms_keyrings(conn, kms_key_id)
                + raw_keyrings(key_file, rsa_public_key, key_name, reading=False)
                + raw_keyrings((), rsa_private_key, key_name, reading=True)
            )
            reading_keys = kms_keyrings(conn, kms_key_id) + raw_keyrings(
                key_file, rsa_private_key, key_name, reading=True
            )
            reading = keyring or _one(reading_keys) or writing
            write_mode = ClientSide(
                writing,
                sse=layer,
                context=context,
                max_data_keys=max_data_keys,
                frame_length=frames,
            )
            read_mode: EncryptionMode | None = ClientSide(
                reading, sse=layer, context=context, max_data_keys=max_data_keys
            )
            store_keyring = reading
        else:
            if sse_kms_key_id:
                raise ConfigurationError("sse_kms_key_id goes with client-side; use kms_key_id")
            if len(kms_key_id) > 1:
                raise ConfigurationError("several kms_key_id need client_side=True")
            if max_data_keys is not None or frame_length is not None:
                raise ConfigurationError("max_data_keys and frame_length go with client-side")
            first = kms_key_id[0] if kms_key_id else None
            name = sse or ("kms" if first or context else "s3")
            write_mode = parse_mode(name, kms_key_id=first, context=context or None)
            # As `securestore get` without key options: a plain server-side read, which
            # refuses a client-side object rather than return its ciphertext. Only
            # require="client-side" decrypts (KMS discovery in the caller's own account).
            discovery = _one(kms_keyrings(conn, kms_key_id)) or AccountDiscoveryKeyring(conn)
            read_mode = _required(require, first, discovery)
            store_keyring = discovery if isinstance(read_mode, ClientSide) else None
        if require is not None and isinstance(read_mode, ClientSide) and require != "client-side":
            raise ConfigurationError("key options make every read client-side; drop require=")

        def factory(bucket: str) -> SecureStore:
            return SecureStore(
                bucket,
                encryption=write_mode,
                connection=conn,
                transfer=transfer,
                keyring=store_keyring,
            )

        return cls(factory, read_mode, context or None, relocated)


def _one(keyrings: list[Keyring]) -> Keyring | None:
    """Several keyrings that may each decrypt (any one of them suffices)."""
    if not keyrings:
        return None
    return keyrings[0] if len(keyrings) == 1 else MultiKeyring(children=keyrings)


def _required(
    require: str | None, kms_key_id: str | None, keyring: Keyring
) -> EncryptionMode | None:
    """The mode ``require=`` names (the CLI's ``--require``) on a server-side filesystem."""
    if require is None:
        return None
    if require == "client-side":
        return ClientSide(keyring)
    return parse_mode(require, kms_key_id=kms_key_id)
