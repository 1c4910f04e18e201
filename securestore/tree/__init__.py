"""Tree transfers on one bounded pool: ``cp -r``, ``sync``, ``mv``, ``rm -r``, ``rb``.

See :mod:`securestore.tree.operations` for the API and
:mod:`securestore.tree.manager` for the pool.
"""

from .filters import Filters
from .manager import (
    DEFAULT_CONCURRENCY,
    Failure,
    Skip,
    Task,
    TransferManager,
    TreeProgress,
    TreeResult,
)
from .operations import (
    TreeOptions,
    copy_file,
    copy_tree,
    move_tree,
    sync,
)
from .paths import Local, Remote, local_target, remote_key
from .removal import remove_bucket, remove_tree

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Failure",
    "Filters",
    "Local",
    "Remote",
    "Skip",
    "Task",
    "TransferManager",
    "TreeOptions",
    "TreeProgress",
    "TreeResult",
    "copy_file",
    "copy_tree",
    "local_target",
    "move_tree",
    "remove_bucket",
    "remove_tree",
    "remote_key",
    "sync",
]
