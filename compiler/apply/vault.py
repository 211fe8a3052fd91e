"""The Vault side of ``picluster plan`` and ``apply``: connect, read, plan, execute."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from . import vault_access, vault_apply, vault_state
from .connection import Connection, connect, ready
from .credentials import reviewer_jwt, token
from .tree import Tree
from .vault_desired import desired
from .vault_model import Plan
from .vault_plan import plan


@dataclass(frozen=True)
class Planned:
    """A plan and what executing it needs (the JWT stays out of the plan itself)."""

    address: str
    plan: Plan
    conn: Connection
    jwt: str | None


def make_plan(
    tree: Tree,
    env: Mapping[str, str],
    *,
    prune: bool = False,
    destroy: Collection[str] = (),
) -> Planned:
    """Read the server and plan the steps from it to what ``tree`` declares.

    Args:
        tree: the compiled spec, as out/ holds it (its policy files are what is sent).
        env: where VAULT_TOKEN, BAO_TOKEN and a JWT variable are read.
        prune: also delete what picluster created and the spec no longer declares.
        destroy: secrets engines a prune may unmount though they hold keys.

    Raises:
        InputError: the token or the JWT source is missing or invalid.
        ApplyError: the server cannot be read (unreachable, TLS, sealed, 403, 5xx), or
            picluster's record there is not one it wrote.
    """
    model = tree.model
    secret_token = token(model, env)
    jwt = reviewer_jwt(model, env)
    conn = connect(model, secret_token)
    conn.secrets = [s for s in (jwt, secret_token) if s]
    ready(conn)
    want = desired(model, jwt, tree.build.loaded.doc, tree.policies)
    current = vault_state.read(conn, want)
    steps = plan(want, current, prune=prune, destroy=destroy)
    vault_access.add(steps, conn, model, current, tree.build.loaded.doc)  # who fails now
    return Planned(conn.address, steps, conn, jwt)


def apply(planned: Planned, progress: vault_apply.Progress) -> None:
    """Execute ``planned`` exactly as planned, reporting each step to ``progress``.

    Raises:
        ApplyError: a conflict, or the first step that failed.
    """
    vault_apply.execute(planned.conn, planned.plan, planned.jwt, progress)
