"""The ticket state machine: one pure function owns every transition and who may make it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["open", "accepted", "resolved", "closed"]
Action = Literal[
    "accept", "done", "transfer", "reject", "escalate", "fixed", "not_fixed", "close", "reopen"
]
Role = Literal["assignee", "admin", "reporter"]

#: action -> (statuses it applies to, resulting status or None for "unchanged", roles allowed)
RULES: dict[str, tuple[frozenset[str], str | None, frozenset[str]]] = {
    "accept": (frozenset({"open"}), "accepted", frozenset({"assignee"})),
    "done": (frozenset({"open", "accepted"}), "resolved", frozenset({"assignee"})),
    "transfer": (frozenset({"open", "accepted"}), "open", frozenset({"assignee", "admin"})),
    "reject": (frozenset({"open", "accepted"}), "open", frozenset({"assignee"})),
    "escalate": (frozenset({"open", "accepted"}), None, frozenset({"system"})),
    "fixed": (frozenset({"resolved"}), "closed", frozenset({"reporter"})),
    "not_fixed": (frozenset({"resolved"}), "open", frozenset({"reporter"})),
    "close": (frozenset({"open", "accepted", "resolved"}), "closed", frozenset({"admin"})),
    "reopen": (frozenset({"resolved", "closed"}), "open", frozenset({"admin"})),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of asking for a transition: allowed with the new status, or refused with a reason."""

    ok: bool
    to_status: str | None = None
    reason: Literal["", "forbidden", "state"] = ""


def decide(action: str, status: str, roles: set[str]) -> Verdict:
    """May someone holding ``roles`` do ``action`` on a ticket in ``status``?"""
    allowed_from, to_status, allowed_roles = RULES[action]
    if not roles & allowed_roles:
        return Verdict(False, reason="forbidden")
    if status not in allowed_from:
        return Verdict(False, reason="state")
    return Verdict(True, to_status or status)
