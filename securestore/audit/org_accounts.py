"""The accounts of an organization-wide audit: pure parsing and naming, no AWS calls.

:func:`active_accounts` reads Organizations ``ListAccounts`` answer pages,
:func:`parse_account_list` an ``--accounts FILE``, and :func:`role_arn` names
the role to assume in an account.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from securestore.errors import ConfigurationError

__all__ = ["Account", "active_accounts", "parse_account_list", "role_arn"]

_ACCOUNT_ID = re.compile(r"[0-9]{12}")
# IAM's rule for role names.
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")


@dataclass(frozen=True)
class Account:
    """One account to audit: its 12-digit id and, when known, its name."""

    id: str
    name: str = ""


def _account_id(text: str, where: str) -> str:
    if not _ACCOUNT_ID.fullmatch(text):
        raise ConfigurationError(
            f"{where}: {text!r} is not a 12-digit AWS account id",
            hint="list one account id per line ('#' starts a comment)",
        )
    return text


def parse_account_list(text: str, *, source: str = "accounts file") -> tuple[Account, ...]:
    """Accounts from text: one 12-digit id per line, optionally followed by a name.

    Blank lines and ``#`` comments are ignored; duplicates are kept once.

    Raises:
        ConfigurationError: a line that is not an account id, or no account at all.
    """
    seen: dict[str, Account] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        ident, _, name = content.partition(" ")
        account = Account(_account_id(ident, f"{source} line {number}"), name.strip())
        seen.setdefault(account.id, account)
    if not seen:
        raise ConfigurationError(f"{source} lists no account")
    return tuple(seen.values())


def active_accounts(pages: Iterable[Mapping[str, Any]]) -> tuple[Account, ...]:
    """The ``ACTIVE`` accounts of ``ListAccounts`` answer pages, sorted by id.

    Suspended accounts (and those being closed) cannot be audited and are left
    out; an account without a status is kept (it is not known to be inactive).
    """
    found: dict[str, Account] = {}
    for page in pages:
        for item in page.get("Accounts", []):
            state = item.get("State") or item.get("Status") or "ACTIVE"
            if str(state).upper() != "ACTIVE":
                continue
            ident = _account_id(str(item.get("Id", "")), "ListAccounts")
            found[ident] = Account(ident, str(item.get("Name", "")))
    return tuple(found[k] for k in sorted(found))


def role_arn(account_id: str, role_name: str, *, partition: str = "aws") -> str:
    """``arn:PARTITION:iam::ACCOUNT:role/ROLE``, with both parts validated.

    Raises:
        ConfigurationError: not an account id, or not a valid role name.
    """
    _account_id(account_id, "account")
    if not _ROLE_NAME.fullmatch(role_name):
        raise ConfigurationError(
            f"invalid role name {role_name!r}",
            hint="a role name is 1-64 letters, digits and +=,.@_- (no path)",
        )
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"
