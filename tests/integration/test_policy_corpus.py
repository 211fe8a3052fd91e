"""The awkward-path corpus against a real OpenBao: each rule reaches the server as written.

A dev server on 127.0.0.1 (policies are parsed the same in dev mode) is handed the policy
``compile`` generated; what it stores, and what ``sys/capabilities`` answers for a token that
holds only that policy, must match the spec rule by rule. Each rule has a capability set of its
own (``caps_of``), so a rule merged into another or lost shows. ``sys/capabilities`` trims the
paths it is asked about, so the rule with a trailing space is checked with a real request.
"""

from __future__ import annotations

import itertools
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from compiler.apply.vault_plan import normalised_policy
from compiler.pipeline import Build
from tests.support import compile_data, minimal, need
from tests.test_policy_hcl1 import CORPUS, caps_of, corpus_spec, policy_text, rules_of

from .server import STARTUP_TIMEOUT, clean_env, stop, wait_for
from .test_openbao import free_ports

pytestmark = pytest.mark.integration

KV = "c"  # a KV v1 mount under the corpus paths, for the real-request checks


@dataclass
class Dev:
    url: str
    root: str
    session: requests.Session

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        """``method`` on ``/v1/path``: the JSON answer (None for 204); fails on an error."""
        response = self.request(method, path, token, **kw)
        assert response.ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def request(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> requests.Response:
        headers = {"X-Vault-Token": token or self.root}
        return self.session.request(
            method, f"{self.url}/v1/{path}", headers=headers, timeout=10, **kw
        )

    def capabilities(self, token: str, paths: list[str]) -> dict[str, list[str]]:
        data = self.call("POST", "sys/capabilities", json={"token": token, "paths": paths})
        return {p: sorted(data["data"][p]) for p in paths}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    need("bao")
    home = tmp_path_factory.mktemp("bao-dev")
    [port] = free_ports(1)
    root = secrets.token_urlsafe(24)
    env = {**clean_env(home), "BAO_DEV_ROOT_TOKEN_ID": root}  # not on the command line
    log = home / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bao", "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            env=env,
        )
    session = requests.Session()
    session.trust_env = False
    server = Dev(f"http://127.0.0.1:{port}", root, session)
    try:
        wait_for(
            "the dev server",
            lambda: True if server.request("GET", "sys/health").status_code == 200 else None,
            STARTUP_TIMEOUT,
            log,
        )
        server.call("POST", f"sys/mounts/{KV}", json={"type": "kv"})
        server.call("POST", "sys/auth/userpass", json={"type": "userpass"})
        yield server
    finally:
        session.close()
        stop(process)


@dataclass
class Login:
    token: str
    entity_id: str


def login_with(dev: Dev, policy: str) -> Login:
    """A userpass login holding only ``policy``: a token with an entity, for templated paths."""
    user, password = f"u-{policy}", secrets.token_urlsafe(16)
    dev.call(
        "POST",
        f"auth/userpass/users/{user}",
        json={"password": password, "token_policies": [policy], "token_no_default_policy": True},
    )
    auth = dev.call("POST", f"auth/userpass/login/{user}", json={"password": password})["auth"]
    return Login(auth["client_token"], auth["entity_id"])


def put_policy(dev: Dev, name: str, policy: str) -> None:
    dev.call("PUT", f"sys/policies/acl/{name}", json={"policy": policy})


@pytest.fixture(scope="module")
def corpus(dev: Dev, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Login]:
    build: Build = compile_data(tmp_path_factory.mktemp("spec"), corpus_spec())
    policy = policy_text(build, "corpus")
    put_policy(dev, "corpus", policy)
    return policy, login_with(dev, "corpus")


def test_the_server_keeps_the_policy_text_as_sent(dev: Dev, corpus: tuple[str, Login]) -> None:
    policy, _ = corpus
    stored = dev.call("GET", "sys/policies/acl/corpus")["data"]["policy"]
    assert stored == policy
    assert rules_of(stored) == [(path, caps_of(i)) for i, (path, _, _) in enumerate(CORPUS)]


def _trimmed(path: str) -> bool:
    return path != path.strip()


def test_every_rule_has_its_own_capabilities_on_the_server(
    dev: Dev, corpus: tuple[str, Login]
) -> None:
    _, login = corpus
    expected: dict[str, list[str]] = {}
    for i, (path, matching, other) in enumerate(CORPUS):
        if _trimmed(path):
            continue
        for probe in matching:
            expected[probe.replace("{entity}", login.entity_id)] = sorted(caps_of(i))
        expected.update({probe: ["deny"] for probe in other})
    assert dev.capabilities(login.token, list(expected)) == expected


def test_a_trailing_space_is_part_of_the_rule(dev: Dev, corpus: tuple[str, Login]) -> None:
    """A read of a missing key is 404 when the policy allows it, 403 when it does not."""
    _, login = corpus
    [(i, matching, other)] = [(i, m, o) for i, (p, m, o) in enumerate(CORPUS) if _trimmed(p)]
    assert "read" in caps_of(i)
    assert [dev.request("GET", p, login.token).status_code for p in matching] == [404]
    assert [dev.request("GET", p, login.token).status_code for p in other] == [403]


def test_seen_merge_of_two_rules_is_gone(dev: Dev, tmp_path: Path) -> None:
    """Seen on OpenBao: ``secret/${`` then ``}x`` became one rule with the second one's sudo."""
    rules = [
        {"path": "secret/${", "capabilities": ["read"]},
        {"path": "}x", "capabilities": ["sudo", "update"]},
    ]
    put_policy(
        dev, "seen", policy_text(compile_data(tmp_path, minimal(policies={"p": rules})), "p")
    )
    login = login_with(dev, "seen")
    assert dev.capabilities(login.token, ["secret/${", "}x", "secret/${x}"]) == {
        "secret/${": ["read"],
        "}x": ["sudo", "update"],
        "secret/${x}": ["deny"],
    }


def test_bao_policy_fmt_changes_nothing_the_plan_compares(
    corpus: tuple[str, Login], tmp_path: Path
) -> None:
    policy, _ = corpus
    path = tmp_path / "corpus.hcl"
    path.write_text(policy)
    subprocess.run(["bao", "policy", "fmt", str(path)], check=True, capture_output=True)
    assert normalised_policy(path.read_text()) == normalised_policy(policy)


# Hand-written policies: the plan's comparison against what the server makes of each.
VARIANTS = [
    'path "a/${x}" { capabilities = ["read"] }',
    'path "a/\\u0024{x}" {capabilities=["read"]}',
    'path "a/\\x24{x}" {\n  capabilities = [ "read", ]\n}',
    '# c\npath "a/${x}" { # inner "x"\n capabilities = ["read"] // c2\n}',
    '/* path "a/${x}" { capabilities = ["sudo"] } */ path "a/${x}" { capabilities = ["read"] }',
    'path "a/$${x}" { capabilities = ["read"] }',
    'path "a/${x}" { capabilities = ["read", "list"] }',
    'path "secret/${" {\n capabilities = ["read"]\n}\npath "}x" {\n capabilities = ["sudo"]\n}',
    'path "a#x" { capabilities = ["read"] }',
    'path "a#y/*" { capabilities = ["read"] }',
    'path "a#x" { capabilities = ["read"] } # path "a#y/*" { capabilities = ["read"] }',
    'path "a/%{x}" { capabilities = ["read"] }',
    'path "a/%%{x}" { capabilities = ["read"] }',
]
PROBES = [
    "a/${x}",
    "a/$${x}",
    "secret/${",
    "}x",
    'secret/${" {\n capabilities = ["read"]\n}\npath "}x',
    "a#x",
    "a#y/z",
    "a/%{x}",
    "a/%%{x}",
]


def test_the_plan_compares_policies_as_the_server_reads_them(dev: Dev) -> None:
    """On these variants the comparison is exact: two policies normalise alike exactly when the
    server answers alike, so no change is hidden and no spelling or layout is a change."""
    seen = []
    for i, text in enumerate(VARIANTS):
        put_policy(dev, f"v{i}", text)
        seen.append(dev.capabilities(login_with(dev, f"v{i}").token, PROBES))
    normal = [normalised_policy(text) for text in VARIANTS]
    for a, b in itertools.combinations(range(len(VARIANTS)), 2):
        assert (normal[a] == normal[b]) == (seen[a] == seen[b]), (VARIANTS[a], VARIANTS[b])
    assert len(set(normal[:5])) == 1  # five spellings of one rule
    assert normal[8] == normal[10]  # a comment after the rule, '#' outside the string
