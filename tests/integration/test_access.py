"""Users, roles, grants and tokens on a real workspace (SQLite and PostgreSQL), without HTTP:
the rules live in the capability functions, so every face gets them."""

from __future__ import annotations

import itertools
import time

import pytest

from gyre import actors
from gyre.access import tokens, users
from gyre.errors import Conflict, Forbidden, InvalidParameter, NotFound, Unauthenticated
from gyre.store import Store
from gyre.workspace.audit_log import entries


def test_roles_are_ordered_and_grants_raise_a_role_on_one_resource_only() -> None:
    bob = actors.Actor("bob", "contributor", grants={"model seer": "approver"})
    assert bob.may("reader") and bob.may("contributor") and not bob.may("approver")
    assert bob.may("approver", "model seer") and not bob.may("approver", "model other")
    with actors.acting_as(bob):
        actors.require("approver", "model seer", doing="move seer@production")
        with pytest.raises(Forbidden, match="bob .*needs the role approver on model other"):
            actors.require("approver", "model other", doing="move other@production")
        assert actors.audit_label() == "bob"
    actors.require("admin", doing="anything")  # nobody authenticated: the workspace's user
    with pytest.raises(InvalidParameter, match="roles are reader, contributor"):
        actors.rank("owner")


def test_a_token_is_shown_once_stored_hashed_and_refused_once_expired_revoked_or_disabled(
    any_store: Store,
) -> None:
    began = time.time()  # the audit log outlives a test on PostgreSQL: it cannot be emptied
    admin = tokens.bootstrap_admin(any_store)
    assert admin is not None and tokens.bootstrap_admin(any_store) is None
    with any_store.read() as tx:
        stored = tx.all("SELECT * FROM tokens")
    assert admin.secret.split("_", 3)[3] not in str(stored)  # only its digest is kept

    check = tokens.Authenticator(any_store)
    found = check.authenticate(admin.secret, "10.0.0.7")
    assert (found.name, found.role, found.origin) == ("admin", "admin", "10.0.0.7")
    assert found.label == f"admin via {admin.row.id} from 10.0.0.7"

    with actors.acting_as(found):
        users.create(any_store, "ci", role="contributor", kind="service")
        short = tokens.create(any_store, "ci", expires_in_s=0.2)
        kept = tokens.create(any_store, "ci", description="CI of seer")
        with pytest.raises(Conflict, match="exists already"):
            users.create(any_store, "ci", role="reader")
    assert check.authenticate(short.secret).name == "ci"
    time.sleep(0.3)
    with pytest.raises(Unauthenticated, match="expired"):
        check.authenticate(short.secret)

    ci = check.authenticate(kept.secret)
    with actors.acting_as(ci), pytest.raises(Forbidden, match="needs the role admin"):
        users.create(any_store, "eve", role="admin")
    with actors.acting_as(ci):  # its own token it may revoke
        assert tokens.revoke(any_store, kept.row.id) is True
    with pytest.raises(Unauthenticated, match="revoked"):
        check.authenticate(kept.secret)

    again = tokens.create(any_store, "ci")
    users.disable(any_store, "ci")
    with pytest.raises(Unauthenticated, match="disabled"):
        check.authenticate(again.secret)
    for wrong in (None, "", "Bearer x", "gyre_t_abc", admin.secret + "x"):
        with pytest.raises(Unauthenticated):
            check.authenticate(wrong)
    with pytest.raises(NotFound, match="No user named 'nobody'"):
        tokens.create(any_store, "nobody")

    actions = [e.action for e in entries(any_store, since=began, limit=100)]
    assert actions.count("token.create") == 4 and "token.revoke" in actions
    assert "user.disable" in actions


def test_grants_name_a_resource_and_a_role(any_store: Store) -> None:
    users.create(any_store, "alice", role="contributor")
    users.grant(any_store, "alice", "approver", "model seer")
    assert [(g.resource, g.role) for g in users.grants(any_store, "alice")] == [
        ("model seer", "approver")
    ]
    with pytest.raises(InvalidParameter, match="'KIND NAME'"):
        users.grant(any_store, "alice", "approver", "seer")
    assert users.revoke_grant(any_store, "alice", "model seer") is True
    assert users.grants(any_store, "alice") == []


def test_alias_moves_from_many_threads_at_once_never_fail_and_each_is_in_the_history(
    any_store: Store,
) -> None:
    import threading

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from gyre.registry import catalog
    from gyre.registry.models import register_model, set_alias

    x = np.random.RandomState(0).rand(40, 2)
    for c in (1.0, 0.5, 0.25):
        model = LogisticRegression(C=c).fit(x, (x[:, 0] > 0.5).astype(int))
        register_model("clf", model, input_example=x[:2], store=any_store)
    problems: list[BaseException] = []

    def mover(version: int) -> None:
        try:
            for _ in range(10):
                set_alias(any_store, "clf", "production", version)
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=mover, args=(v,)) for v in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    history = catalog.alias_history(any_store, "clf")
    assert len(history) == 30
    # each move names the version that held just before it: the history is one chain
    assert all(b["previous"] == a["version"] for a, b in itertools.pairwise(history))
