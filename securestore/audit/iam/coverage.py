"""Questions about classes of requests, answered exactly for actions and resources.

:func:`deny_coverage` asks whether the Denies of a policy refuse every request
of a :class:`RequestClass` (say, every plain-HTTP request, by anyone, to any S3
action on the bucket or any object). Only Denies whose conditions hold for the
whole class count (a condition on a key the class leaves free does not); their
union must then cover every (principal, action, resource). The action and
resource spaces are split into the regions the policy's patterns distinguish,
by a search over the product of the patterns' automata, so ``s3:Get*`` plus
``s3:Put*`` is seen to leave ``s3:ReplicateObject`` open and ``bucket/?*`` to
cover every object, without any list of known actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from securestore.audit.iam.conditions import Context, condition_holds, probe_values
from securestore.audit.iam.document import Condition, Policy, Statement, arn_partition

__all__ = [
    "STATE_LIMIT",
    "WORK_LIMIT",
    "Coverage",
    "RequestClass",
    "deny_coverage",
    "statement_conditions_hold",
]

#: Where the search gives up on a crafted policy (and the checks fail closed): the
#: states explored, and the (pattern, position) steps taken (well under a second).
STATE_LIMIT = 20_000
WORK_LIMIT = 300_000


# --- conditions over a request ---------------------------------------------------------------


def statement_conditions_hold(statement: Statement, context: Context) -> bool:
    """True if every condition of ``statement`` holds for the request ``context``."""
    return all(condition_holds(c, context) for c in statement.conditions)


# --- request classes -------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestClass:
    """A set of requests to one bucket: every principal, every action of ``service``
    (``s3``), the bucket ARN and every object ARN, with the condition keys in
    ``fixed`` set to the given values (``None`` = absent) and every other key free.

    ``actions`` narrows the class to those actions (``("s3:PutObject",)``) instead
    of every action of ``service``; ``objects_only`` to the objects (no bucket ARN).
    """

    bucket_arn: str
    fixed: Mapping[str, tuple[str, ...] | None]
    service: str = "s3"
    description: str = "requests"
    #: Keys whose Denies are explained when they do not count (default: ``fixed``).
    explain: frozenset[str] | None = None
    actions: tuple[str, ...] | None = None
    objects_only: bool = False


@dataclass(frozen=True)
class Coverage:
    """Whether the Deny statements of a policy deny every request of a class.

    ``statements`` are the labels of the Denies that apply to the whole class
    (their conditions hold for every request of it); ``gaps`` describe requests
    of the class no Deny refuses; ``reasons`` say why other Denies that mention
    the class's keys do not count.
    """

    denied: bool
    statements: tuple[str, ...]
    gaps: tuple[str, ...]
    reasons: tuple[str, ...]


def _universal(statement: Statement, klass: RequestClass) -> Condition | None:
    """The first condition of ``statement`` that fails for some request of ``klass``."""
    for cond in statement.conditions:
        if cond.key in klass.fixed:
            value = klass.fixed[cond.key]
            contexts: Iterable[Context] = ({cond.key: value} if value is not None else {},)
        else:
            contexts = ({cond.key: v} if v is not None else {} for v in probe_values(cond))
        if not all(condition_holds(cond, ctx) for ctx in contexts):
            return cond
    return None


def deny_coverage(
    policy: Policy | None,
    klass: RequestClass,
    *,
    bucket_actions: Sequence[str] = (),
    object_actions: Sequence[str] = (),
) -> Coverage:
    """Do the Denies of ``policy`` refuse every request of ``klass``?

    Only statements whose conditions hold for every request of the class count
    (a condition on a free key does not); the union of those statements must
    then cover every (principal, action, resource) of the class. The answer is
    exact for actions and resources; principals are represented by every
    principal the statements name plus an outsider and an anonymous caller.
    ``bucket_actions`` and ``object_actions`` only serve to name open actions in
    the gaps.
    """
    counted: list[Statement] = []
    reasons: list[str] = []
    for st in policy.statements if policy else ():
        if not st.is_deny:
            continue
        failing = _universal(st, klass)
        if failing is None:
            counted.append(st)
        elif any(c.key in (klass.explain or klass.fixed) for c in st.conditions):
            reasons.append(
                f"statement {st.label}: its condition {failing.describe()} does not hold "
                f"for all {klass.description}"
            )
    if not counted:
        return Coverage(False, (), (f"no Deny applies to all {klass.description}",), tuple(reasons))
    principals = _principal_witnesses(counted, klass.bucket_arn)
    p_atoms: dict[int, tuple[str, str, str | None]] = {}
    for who in principals:
        p_atoms.setdefault(_mask(st.matches_principal(who) for st in counted), who)
    action_atoms: dict[int, str] | None
    if klass.actions is not None:
        action_atoms = {}
        for action in klass.actions:
            action_atoms.setdefault(_mask(st.matches_action(action) for st in counted), action)
    else:
        action_atoms = _atoms(
            f"{klass.service}:",
            [(st.actions, st.not_actions) for st in counted],
            ignore_case=True,
        )
    bucket_mask = _mask(st.matches_resource(klass.bucket_arn) for st in counted)
    object_atoms = _atoms(
        klass.bucket_arn + "/",
        [(_no_vars(st.resources, False), _no_vars(st.not_resources, True)) for st in counted],
        ignore_case=False,
    )
    if action_atoms is None or object_atoms is None:
        return Coverage(
            False,
            (),
            ("the policy's patterns are too complex to decide; treated as not denied",),
            tuple(reasons),
        )
    resources: list[tuple[str, int, str | None, Sequence[str]]] = []
    if klass.objects_only:
        bucket_mask = (1 << len(counted)) - 1  # the bucket is not part of the class
    else:
        resources.append(("the bucket", bucket_mask, None, bucket_actions))
    resources += [
        ("objects", mask, witness, klass.actions or object_actions)
        for mask, witness in object_atoms.items()
    ]
    gaps: list[str] = []
    for r_name, r_mask, r_witness, known_actions in resources:
        for p_mask, who in p_atoms.items():
            open_actions = [
                witness
                for a_mask, witness in action_atoms.items()
                if not (a_mask & r_mask & p_mask)
            ]
            if not open_actions:
                continue
            named = [
                a
                for a in known_actions
                if not (_mask(st.matches_action(a) for st in counted) & r_mask & p_mask)
            ]
            if named:
                what = ", ".join(named[:5])
            else:
                what = "unlisted actions such as " + ", ".join(sorted(open_actions)[:2])
            if len(named) > 5:
                what += f" and {len(named) - 5} more"
            several = r_witness is not None and len(object_atoms) > 1
            where = f"objects such as {r_witness}" if several else r_name
            whom = "" if len(p_atoms) == 1 else f" for {_describe_who(who)}"
            gaps.append(f"{what} on {where}{whom}")
    if gaps:
        reasons += _shortfalls(counted, p_atoms, action_atoms, bucket_mask, object_atoms)
    return Coverage(
        not gaps,
        tuple(st.label for st in counted),
        tuple(dict.fromkeys(gaps)),
        tuple(reasons),
    )


def _shortfalls(
    counted: Sequence[Statement],
    principals: Mapping[int, object],
    actions: Mapping[int, str],
    bucket_mask: int,
    objects: Mapping[int, str],
) -> list[str]:
    """What each counted Deny leaves out on its own, in words."""
    out: list[str] = []
    for i, st in enumerate(counted):
        bit = 1 << i
        lacks: list[str] = []
        if not all(m & bit for m in principals):
            if st.not_principal is not None:
                lacks.append(f"NotPrincipal exempts {st.not_principal.describe()}")
            elif st.principal is not None:
                lacks.append(f'applies only to {st.principal.describe()}, not Principal "*"')
        if not bucket_mask & bit:
            lacks.append("does not cover the bucket itself")
        if not all(m & bit for m in objects):
            lacks.append("does not cover every object (bucket/*)")
        if not all(m & bit for m in actions):
            if st.not_actions is not None:
                lacks.append("NotAction exempts " + ", ".join(sorted(st.not_actions)))
            else:
                lacks.append("does not cover every S3 action (s3:*)")
        if lacks:
            out.append(f"statement {st.label} " + "; ".join(lacks))
    return out


def _describe_who(who: tuple[str, str, str | None]) -> str:
    kind, name, _ = who
    if kind == "*":
        return "anonymous callers"
    return name if kind == "AWS" else f"{kind} {name}"


def _mask(bits: Iterable[bool]) -> int:
    out = 0
    for i, bit in enumerate(bits):
        if bit:
            out |= 1 << i
    return out


def _no_vars(patterns: frozenset[str] | None, negated: bool) -> frozenset[str] | None:
    """Resource patterns with policy variables: such a pattern matches only some
    requests, so it counts as matching nothing in Resource and everything in
    NotResource (a Deny with it is never assumed to cover more than it must)."""
    if patterns is None:
        return None
    if negated:
        return frozenset("*" if "${" in p else p for p in patterns)
    return frozenset(p for p in patterns if "${" not in p)


def _principal_witnesses(
    statements: Sequence[Statement], bucket_arn: str
) -> list[tuple[str, str, str | None]]:
    """An anonymous caller, an outsider, and every principal the statements name."""
    partition = arn_partition(bucket_arn)
    out: list[tuple[str, str, str | None]] = [
        ("*", "anonymous", None),
        ("AWS", f"arn:{partition}:iam::000000000000:role/securestore-outsider", "000000000000"),
        ("Service", "securestore-outsider.amazonaws.com", None),
    ]
    for st in statements:
        for element in (st.principal, st.not_principal):
            for kind, value in element.entries if element else ():
                if value == "*":
                    continue
                account = _account_of(value) if kind == "AWS" else None
                out.append((kind, value, account))
                if account is not None:
                    out.append(
                        (kind, f"arn:{partition}:iam::{account}:role/securestore-probe", account)
                    )
    return out


def _account_of(value: str) -> str | None:
    if value.isdigit() and len(value) == 12:
        return value
    parts = value.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[4].isdigit():
        return parts[4]
    return None


# --- the action and resource spaces ----------------------------------------------------------


def _atoms(
    prefix: str,
    elements: Sequence[tuple[frozenset[str] | None, frozenset[str] | None]],
    *,
    ignore_case: bool,
) -> dict[int, str] | None:
    """Every set of statements that some string ``prefix + (1 or more chars)`` is
    matched by exactly, with one such string each; ``None`` past the work limits.

    ``elements`` holds per statement (included patterns, excluded patterns): a
    string belongs to the statement if it matches an included pattern, or, for
    an exclusion list, none of the excluded ones. The search walks the product
    of the patterns' automata (a state is the set of live (pattern, position)
    pairs, so patterns that can no longer match cost nothing) over the
    characters the patterns mention plus one that stands for every other one.
    """
    fold = str.lower if ignore_case else str
    patterns: list[str] = []
    owners: list[tuple[int, bool]] = []
    for i, (inc, exc) in enumerate(elements):
        for group, negated in ((inc, False), (exc, True)):
            for p in sorted(group or ()):
                patterns.append(fold(p))
                owners.append((i, negated))
    literals = {ch for p in patterns for ch in p if ch not in "*?"}
    other = next(c for c in "xqz0~\u00a7\u2603\x01" if c not in literals)
    alphabet = [other, *sorted(literals)]
    has_exclusion = [exc is not None for _, exc in elements]

    def close(k: int, pos: int) -> list[tuple[int, int]]:
        """``pos`` and the positions after the ``*`` run at it (a star matches nothing)."""
        p = patterns[k]
        out = [(k, pos)]
        while pos < len(p) and p[pos] == "*":
            pos += 1
            out.append((k, pos))
        return out

    State = frozenset[tuple[int, int]]  # noqa: N806 - a local type alias
    cache: dict[tuple[State, str], State] = {}
    budget = [WORK_LIMIT]

    def step(state: State, ch: str) -> State:
        hit = cache.get((state, ch))
        if hit is None:
            budget[0] -= len(state) + 1
            nxt: set[tuple[int, int]] = set()
            for k, pos in state:
                p = patterns[k]
                if pos < len(p):
                    c = p[pos]
                    if c == "*":
                        nxt.update(close(k, pos))
                    elif c == "?" or c == ch:
                        nxt.update(close(k, pos + 1))
            hit = cache[(state, ch)] = frozenset(nxt)
        return hit

    def membership(state: State) -> int:
        hit = [False] * len(elements)
        excluded = [False] * len(elements)
        for k, pos in state:
            if pos == len(patterns[k]):
                i, negated = owners[k]
                if negated:
                    excluded[i] = True
                else:
                    hit[i] = True
        return _mask(
            (not excluded[i]) if has_exclusion[i] else hit[i] for i in range(len(elements))
        )

    start: State = frozenset(pair for k in range(len(patterns)) for pair in close(k, 0))
    for ch in fold(prefix):
        start = step(start, ch)
    # Every state reached by at least one character after the prefix, with the
    # first string that reaches it (the start state counts only if re-entered).
    found: dict[int, str] = {}
    seen: set[State] = set()
    frontier: list[tuple[State, str]] = [(start, "")]
    while frontier:
        later: list[tuple[State, str]] = []
        for state, text in frontier:
            for ch in alphabet:
                new = step(state, ch)
                if budget[0] < 0 or len(seen) >= STATE_LIMIT:
                    return None
                if new in seen:
                    continue
                seen.add(new)
                found.setdefault(membership(new), prefix + text + ch)
                later.append((new, text + ch))
        frontier = later
    return found
