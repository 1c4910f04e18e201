"""The copies a tree job refuses because they would destroy or multiply their own source."""

from __future__ import annotations

from securestore.errors import ConfigurationError

from .paths import Remote, Side

__all__ = ["check_overlap"]


def _same_bucket(a: Remote, b: Remote) -> bool:
    # By name alone: one bucket has many spellings of its endpoint (a host or an IP,
    # a trailing slash, the regional default), and a refusal is the safe mistake.
    return bool(a.store.bucket == b.store.bucket)


def check_overlap(
    source: Side, destination: Side, *, move: bool, tree: bool, delete: bool = False
) -> None:
    """Refuse what would destroy or multiply its own source (rclone refuses these too).

    An object or prefix copied or moved onto itself: a move would delete what it
    just copied, and a copy changes nothing (``reencrypt`` and ``rewrap`` change
    objects in place). A tree copied into a prefix inside itself would find its
    own copies in the listing it is still reading, and copy them again; a
    ``sync --delete`` into a prefix that holds the source would delete the
    source as "missing" from itself.
    """
    if not (isinstance(source, Remote) and isinstance(destination, Remote)):
        return
    if not _same_bucket(source, destination):
        return
    if source.prefix == destination.prefix:
        raise ConfigurationError(
            f"cannot {'move' if move else 'copy'} {source.describe()} onto itself",
            hint="give another destination; to change objects' encryption in place, "
            "use securestore reencrypt (or rewrap for client-side keys)",
        )
    if tree and destination.prefix.startswith(source.prefix):
        raise ConfigurationError(
            f"the destination {destination.describe()} lies inside the source "
            f"{source.describe()}: the copy would copy its own copies",
            hint="copy to a prefix outside the source (or to another bucket)",
        )
    if tree and delete and source.prefix.startswith(destination.prefix):
        raise ConfigurationError(
            f"the source {source.describe()} lies inside the destination "
            f"{destination.describe()}: --delete would delete the source itself",
            hint="sync into a prefix that does not hold the source, or drop --delete",
        )
