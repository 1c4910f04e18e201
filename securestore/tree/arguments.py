"""The checks of the tree calls' arguments, by parameter name.

Applied by :func:`securestore.arguments.checked` to :func:`copy_tree`,
:func:`move_tree`, :func:`sync`, :func:`copy_file`, :func:`remove_tree` and
:func:`remove_bucket`; sides are checked by :func:`~securestore.tree.paths.as_side`.
"""

from __future__ import annotations

import securestore.arguments as args
from securestore.store import SecureStore

from .filters import Filters
from .options import TreeOptions

__all__ = ["ARGUMENTS", "checked"]

#: Every tree call's argument checks, by parameter name.
ARGUMENTS: dict[str, args.Check] = {
    "store": args.instance_of(SecureStore, "a SecureStore"),
    "prefix": args.text,
    "options": args.optional(args.instance_of(TreeOptions, "a TreeOptions")),
    "filters": args.optional(
        args.instance_of(Filters, "a Filters", hint="build one with Filters.of(rules)")
    ),
    "progress": args.optional(args.callback),
    "on_event": args.optional(args.callback),
    **dict.fromkeys(args.FLAGS, args.flag),
}

#: The decorator of the tree calls.
checked = args.checked(ARGUMENTS)
