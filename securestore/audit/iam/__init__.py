"""A small, pure evaluator of IAM policy semantics (no AWS calls).

* :mod:`~securestore.audit.iam.document`: policies parsed as strictly as AWS
  parses them (``"Effect": "deny"`` is a ``malformed policy`` error naming it);
* :mod:`~securestore.audit.iam.conditions`: condition operators on a request
  context, with IAM's rules for absent keys, ``...IfExists``, ``Null`` and the
  ``ForAllValues:``/``ForAnyValue:`` set operators;
* :mod:`~securestore.audit.iam.coverage`: whether a policy's Denies refuse every
  request of a class (all principals, all actions of a service, a bucket and all
  its objects, some condition keys fixed), exactly for actions and resources.

Rules followed (IAM User Guide, "Policy evaluation logic" and "Condition
operators"): actions match case-insensitively and resources case-sensitively,
``*`` any run of characters and ``?`` one; an explicit Deny wins; condition
operators and keys are case-insensitive, the values of one key OR-ed, keys and
operators AND-ed. :mod:`securestore.audit.policy` phrases the checks' questions.
"""

from __future__ import annotations

from securestore.audit.iam.conditions import Context, condition_holds, probe_values, wildcard_match
from securestore.audit.iam.coverage import (
    Coverage,
    RequestClass,
    deny_coverage,
    statement_conditions_hold,
)
from securestore.audit.iam.document import (
    Condition,
    Policy,
    Principal,
    Statement,
    arn_partition,
    parse_policy,
    partition_for_region,
)

__all__ = [
    "Condition",
    "Context",
    "Coverage",
    "Policy",
    "Principal",
    "RequestClass",
    "Statement",
    "arn_partition",
    "condition_holds",
    "deny_coverage",
    "parse_policy",
    "partition_for_region",
    "probe_values",
    "statement_conditions_hold",
    "wildcard_match",
]
