"""The audit trail's hash chain, pure: canonical content of an entry and its SHA-256 hash.

Every `AuditEvent` row carries ``seq`` (1, 2, 3, … without gaps), ``prev_hash`` (the
``hash`` of row ``seq - 1``, or `GENESIS` for row 1) and

    hash = sha256(prev_hash || canonical_json(content))

as 64 lower-case hex digits, where ``prev_hash`` enters as its 64 ASCII hex digits and
``content`` is the row's ``seq``, ``at`` (UTC, ISO 8601 with microseconds), ``actor``,
``role``, ``action``, ``referral_id`` and ``detail``, serialised by `canonical_json`
(keys sorted, no blanks, UTF-8, no NaN or Infinity). Changing, inserting, deleting or
reordering a row therefore breaks the hash of that row or the link of the next one;
`tasks.audit_trail.verify_chain` finds the first such row.

Standard library only: the database code lives in `tasks.audit_trail`. Changing the
canonical form breaks every existing chain: it needs a migration that re-chains the rows
(as 0007 chained the rows written before it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: ``prev_hash`` of the first row of every chain.
GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """`value` as canonical JSON: sorted keys, ``,``/``:`` separators, UTF-8 text.

    Raises `ValueError` for NaN or Infinity and `TypeError` for values JSON cannot hold.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def normalise_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """`detail` as the database gives it back (tuples become lists, keys strings), so the
    hash computed before the insert equals the one recomputed when verifying."""
    normalised: dict[str, Any] = json.loads(canonical_json(detail))
    return normalised


def iso_utc(moment: datetime) -> str:
    """`moment` (aware) as UTC ISO 8601 with microseconds, e.g.
    ``2026-03-02T08:00:00.000000+00:00``; raises `ValueError` for a naive datetime."""
    if moment.tzinfo is None:
        raise ValueError("Audit-Zeitpunkte brauchen eine Zeitzone.")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Entry:
    """The hashed content of one audit row (everything but ``id``, ``prev_hash``, ``hash``)."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    referral_id: int | None
    detail: dict[str, Any]

    def canonical(self) -> str:
        return canonical_json(
            {
                "seq": self.seq,
                "at": iso_utc(self.at),
                "actor": self.actor,
                "role": self.role,
                "action": self.action,
                "referral_id": self.referral_id,
                "detail": self.detail,
            }
        )


def entry_hash(prev_hash: str, entry: Entry) -> str:
    """``sha256(prev_hash || canonical_json(content))`` of `entry`, 64 hex digits."""
    return hashlib.sha256((prev_hash + entry.canonical()).encode("utf-8")).hexdigest()
