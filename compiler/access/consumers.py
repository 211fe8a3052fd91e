"""The API requests each consumer of Vault makes with its token, and the paths they go to.

External Secrets Operator's Vault provider, as of the chart version the spec pins (0.19.2;
unchanged in 2.x under ``providers/v1/vault``), ``pkg/provider/vault`` of
external-secrets/external-secrets:

- ``client_get.go`` ``buildPath``: the read path of a ``data`` entry's remoteRef key and of a
  ``dataFrom.extract`` key (``GetSecret`` and ``GetSecretMap`` both ``readSecret`` it with a
  GET, that is ``read``); the property is picked from the answer, it is not in the path.
- ``client_get.go`` ``buildMetadataPath``: ``<mount>/metadata/<key>`` (v2) or
  ``<mount>/<key>`` (v1), used by ``dataFrom.find``: ``client_get_all_secrets.go``
  ``listSecrets`` LISTs ``<mount>/metadata/<find.path>/`` and every folder below it, then
  reads each key found through ``buildPath`` (and, to match tags, its metadata).
- ``auth.go``: ``checkToken`` reads ``auth/token/lookup-self`` and ``revokeTokenIfValid``
  (on ``Close``) updates ``auth/token/revoke-self``.

The Vault Agent the injector adds to the Prometheus pod writes its token to a file
(``agent-inject-token``); Prometheus sends it to ``GET /v1/sys/metrics``, and the agent
renews it with ``PUT auth/token/renew-self`` (the api package's ``LifetimeWatcher``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .acl import ACL, Decision

KVVersion = Literal[1, 2]

# The name a "below" request is decided for: no rule of a spec can name it (the spec's KV
# keys are [A-Za-z0-9._-]), so only rules that match any key under the folder grant it.
ANY_KEY = "(any-key)"


@dataclass(frozen=True)
class Request:
    """One request a consumer makes: it needs ``capability`` on ``path``.

    ``below``: not ``path`` itself but every path under it (``path`` ends in ``/``), for
    requests made on keys only the server's data names (``dataFrom.find``).
    """

    capability: str
    path: str
    what: str
    below: bool = False

    @property
    def probe(self) -> str:
        """The path to decide: ``path``, or for ``below`` a key under it no rule names."""
        return self.path + ANY_KEY if self.below else self.path

    def decide(self, acl: ACL) -> Decision:
        return acl.decide(self.probe, listing=self.capability in ("list", "scan"))


def strips_mount(mount: str, key: str) -> bool:
    """Whether ESO drops a leading ``<mount>/`` from ``key`` (then ``kv/gitea/db`` on mount
    ``kv`` reads ``kv/data/gitea/db``, and a secret stored at ``kv/gitea/db`` inside the
    mount cannot be read: the bug buildPath's own comment admits)."""
    return key.startswith(mount + "/")


def eso_data_path(mount: str, version: KVVersion, key: str) -> str:
    """The path ESO reads for ``key`` of a store on KV ``mount`` (buildPath, with the store's
    ``path`` set, as picluster always sets it)."""
    out = key
    if out.startswith(mount + "/"):
        out = out.removeprefix(mount + "/")
        if version == 2 and out.startswith("data/"):
            out = out.removeprefix("data/")
    return f"{mount}/data/{out}" if version == 2 else f"{mount}/{out}"


def eso_metadata_path(mount: str, version: KVVersion, key: str) -> str:
    """buildMetadataPath with the store's ``path`` set: no mount stripping here."""
    return f"{mount}/metadata/{key}" if version == 2 else f"{mount}/{key}"


def eso_data(mount: str, version: KVVersion, key: str) -> Request:
    """A ``data`` entry whose remoteRef's key is ``key`` (the property is read from what that
    one request answers)."""
    return Request("read", eso_data_path(mount, version, key), f"ESO reads {key!r}")


def eso_extract(mount: str, version: KVVersion, key: str) -> Request:
    """A ``dataFrom.extract`` of ``key``: the same read as a ``data`` entry's."""
    return Request("read", eso_data_path(mount, version, key), f"ESO extracts {key!r}")


def eso_find(
    mount: str, version: KVVersion, path: str | None = None, *, tags: bool = False
) -> tuple[Request, ...]:
    """A ``dataFrom.find`` (by name, or by ``tags``) under ``path`` (None: the whole mount).

    Raises:
        ValueError: ``tags`` on KV v1, which ESO refuses before any request.
    """
    if tags and version == 1:
        raise ValueError("ESO cannot find by tags on a KV v1 store")
    folder = f"{path}/" if path else ""
    listed = eso_metadata_path(mount, version, folder)
    where = f"under {path!r}" if path else "in the mount"
    out = [
        Request("list", listed, f"ESO lists the keys {where}"),
        Request("list", listed, f"ESO lists the folders {where}", below=True),
        Request("read", eso_data_path(mount, version, folder), f"ESO reads the keys {where}", True),
    ]
    if tags:
        out.append(Request("read", listed, f"ESO reads the keys' metadata {where}", below=True))
    return tuple(out)


def prometheus_metrics() -> Request:
    """Prometheus scraping Vault with the injected agent's token."""
    return Request("read", "sys/metrics", "Prometheus scrapes sys/metrics")


def token_upkeep() -> tuple[Request, ...]:
    """What the clients do with their own token (the built-in default policy grants it)."""
    return (
        Request("read", "auth/token/lookup-self", "ESO checks its token"),
        Request("update", "auth/token/revoke-self", "ESO revokes its token when done"),
        Request("update", "auth/token/renew-self", "the Vault Agent renews its token"),
    )
