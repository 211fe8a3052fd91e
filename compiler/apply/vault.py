"""The Vault side of ``picluster plan`` and ``apply``: load, connect, read, plan, execute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..check import load
from . import vault_access, vault_apply, vault_state
from .connection import Connection, connect, ready, reviewer_jwt, token
from .vault_desired import desired
from .vault_model import Plan
from .vault_plan import plan


@dataclass(frozen=True)
class Options:
    """What ``picluster plan``/``apply`` were asked to do."""

    spec_path: Path = Path("picluster.yaml")
    prune: bool = False
    env: Mapping[str, str] = field(default_factory=dict)  # where VAULT_TOKEN & co. are read
    destroy: frozenset[str] = frozenset()  # engines a prune may unmount though they hold keys


@dataclass(frozen=True)
class Planned:
    """A plan and what executing it needs (the JWT stays out of the plan itself)."""

    address: str
    plan: Plan
    conn: Connection
    jwt: str | None


def make_plan(options: Options) -> Planned:
    """Read the spec and the server, and plan the steps between them.

    Raises:
        InputError: the spec, the token or the JWT source is missing or invalid.
        ApplyError: the server cannot be read (unreachable, TLS, sealed, 403, 5xx).
    """
    loaded = load(options.spec_path)
    spec, inputs = loaded.spec, loaded.inputs
    secret_token = token(spec, inputs, options.env)
    jwt = reviewer_jwt(spec, inputs, options.env)
    conn = connect(spec, inputs, secret_token)
    conn.secrets = [s for s in (jwt, secret_token) if s]
    ready(conn)
    want = desired(spec, inputs, jwt, loaded.doc)
    current = vault_state.read(conn, want)
    steps = plan(want, current, prune=options.prune, destroy=options.destroy)
    vault_access.add(steps, conn, spec, current, loaded.doc)  # who fails now, and after
    return Planned(conn.address, steps, conn, jwt)


def apply(planned: Planned, progress: vault_apply.Progress) -> None:
    """Execute ``planned`` exactly as planned, reporting each step to ``progress``.

    Raises:
        ApplyError: a conflict, or the first step that failed.
    """
    vault_apply.execute(planned.conn, planned.plan, planned.jwt, progress)
