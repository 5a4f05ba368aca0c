"""The ticket state machine: every transition and who may make it."""

from __future__ import annotations

import pytest

from storage.lifecycle import RULES, decide


@pytest.mark.parametrize(
    ("action", "status", "roles", "expected"),
    [
        ("accept", "open", {"assignee"}, "accepted"),
        ("done", "accepted", {"assignee"}, "resolved"),
        ("done", "open", {"assignee"}, "resolved"),
        ("transfer", "accepted", {"admin"}, "open"),
        ("reject", "open", {"assignee"}, "open"),
        ("fixed", "resolved", {"reporter"}, "closed"),
        ("not_fixed", "resolved", {"reporter"}, "open"),
        ("close", "open", {"admin"}, "closed"),
        ("reopen", "closed", {"admin"}, "open"),
    ],
)
def test_allowed_transitions(action, status, roles, expected):
    verdict = decide(action, status, roles)
    assert verdict.ok and verdict.to_status == expected


@pytest.mark.parametrize(
    ("action", "status", "roles", "reason"),
    [
        ("accept", "open", {"reporter"}, "forbidden"),
        ("accept", "accepted", {"assignee"}, "state"),
        ("done", "closed", {"assignee"}, "state"),
        ("close", "open", {"assignee"}, "forbidden"),
        ("close", "closed", {"admin"}, "state"),
        ("fixed", "open", {"reporter"}, "state"),
        ("fixed", "resolved", {"assignee"}, "forbidden"),
        ("reopen", "open", {"admin"}, "state"),
        ("reject", "open", {"admin"}, "forbidden"),
    ],
)
def test_refused_transitions(action, status, roles, reason):
    verdict = decide(action, status, roles)
    assert not verdict.ok and verdict.reason == reason


def test_nothing_leaves_closed_except_an_admin_reopen():
    for action in RULES:
        for roles in ({"assignee"}, {"reporter"}, {"admin", "assignee", "reporter"}):
            verdict = decide(action, "closed", roles)
            assert not verdict.ok or action == "reopen"
