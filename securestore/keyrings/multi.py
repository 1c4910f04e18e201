"""The multi-keyring: one generator plus children; all wrap, any one unwraps."""

from __future__ import annotations

from collections.abc import Sequence

from securestore.errors import ConfigurationError, KeyUnavailableError, NoMatchingKeyError
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
    check_keyring,
    describe_edks,
)

__all__ = ["MultiKeyring"]


class MultiKeyring:
    """Combine keyrings.

    On wrap, ``generator`` (if given) creates the data key and every child adds its
    own wrapped copy; without a generator the materials must already hold a data
    key. On unwrap, the generator then the children are tried in order and the
    first success wins. If all fail, :class:`NoMatchingKeyError` lists every key
    tried, unless a key service failed (:class:`KeyUnavailableError` is re-raised,
    since the key might have matched).
    """

    def __init__(self, generator: Keyring | None = None, children: Sequence[Keyring] = ()) -> None:
        if generator is None and not children:
            raise ConfigurationError("a multi-keyring needs a generator or at least one child")
        if generator is not None:
            check_keyring(generator, "generator")
        if isinstance(children, str | bytes) or not isinstance(children, Sequence):
            raise ConfigurationError("children must be a sequence of keyrings")
        for child in children:
            check_keyring(child, "each child")
        self.generator = generator
        self.children = tuple(children)

    def __repr__(self) -> str:
        return f"MultiKeyring(generator={self.generator!r}, children={self.children!r})"

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """Let the generator create and wrap the data key, then every child wrap it too."""
        if self.generator is not None:
            materials = self.generator.wrap(materials)
        elif materials.data_key is None:
            raise ConfigurationError("a multi-keyring without a generator cannot create data keys")
        for child in self.children:
            materials = child.wrap(materials)
        return materials

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Return the first successful unwrap among generator and children."""
        if materials.data_key is not None:
            return materials
        tried: list[str] = []
        hints: list[str] = []
        unavailable: KeyUnavailableError | None = None
        members = ([self.generator] if self.generator is not None else []) + list(self.children)
        for keyring in members:
            try:
                result = keyring.unwrap(materials, encrypted_data_keys)
            except NoMatchingKeyError as error:
                tried.extend(error.tried)
                if error.hint and error.hint not in hints:
                    hints.append(error.hint)
                continue
            except KeyUnavailableError as error:
                unavailable = unavailable or error
                tried.append(f"{error.message} (unavailable)")
                continue
            if result.data_key is not None:
                return result
        if unavailable is not None:
            raise unavailable
        # Skipped entries are already escaped by the keyring that skipped them.
        skipped = sorted({entry for entry in tried if "(skipped: " in entry})
        unusable = "; unusable data keys: " + "; ".join(skipped) if skipped else ""
        raise NoMatchingKeyError(
            "none of the configured keys can decrypt this message"
            + unusable
            + "; it was encrypted for: "
            + describe_edks(encrypted_data_keys),
            tried=tuple(tried),
            hint="; ".join(hints) or None,
        )
