"""A saved plan of both sides, run by the real core against a real sshd node and a real
OpenBao: both sides are checked before the first write, and when Vault changes while the hosts
are being applied, the Vault side is refused and the line says what did happen."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from compiler.apply import core, saved_plan
from compiler.errors import StalePlanError
from tests.support import compile_data, need

from .hosts_world import World, world
from .pki import make_ca
from .server import Server, install, unsealed
from .test_openbao import spec_data

pytestmark = pytest.mark.integration


class Changing:
    """Apply's progress; at the first line of the hosts side, someone changes Vault by hand."""

    def __init__(self, server: Server, token: str) -> None:
        self.server, self.token = server, token
        self.lines: list[str] = []

    def host(self, node: str, line: str) -> None:
        if not self.lines:
            self.server.client(self.token).sys.create_or_update_policy(
                "readonly", 'path "by-hand/*" { capabilities = ["deny"] }'
            )
        self.lines.append(f"{node}: {line}")

    def step(self, number: int, total: int, step: object) -> None:
        self.lines.append(f"[{number}/{total}]")


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[World, Server]]:
    """One sshd node, and a real OpenBao the spec's Vault address points at (its CA and the
    node's in one bundle)."""
    need("sshd", "ssh-keygen", "systemd-sysusers", "systemd-tmpfiles", "bao", "openssl")
    ca = make_ca(tmp_path / "bao-ca")
    work = tmp_path / "bao"
    work.mkdir()
    shutil.copy(ca.cert, work / "ca.crt")
    data = spec_data()
    data["vault"]["tls"] = {"local": {"ca_cert": "ca.crt"}}
    host = install(compile_data(work, data), "node1", work / "node1", ca)
    with ExitStack() as stack:
        server = stack.enter_context(unsealed(host))
        (tmp_path / "hosts").mkdir()
        w = stack.enter_context(world(tmp_path / "hosts"))
        bundle = (w.directory / "pki" / "ca.crt").read_text() + ca.cert.read_text()
        (w.directory / "pki" / "ca.crt").write_text(bundle)
        w.spec["vault"]["api"] = {"address": server.url}
        yield w, server


def test_vault_changing_during_the_hosts_apply_stops_the_vault_side(
    both: tuple[World, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    w, server = both
    assert server.root_token is not None
    w.tree()  # compiled into out/, as a user does before planning
    monkeypatch.chdir(w.directory)
    options = core.Options(
        spec_path=Path("picluster.yaml"),
        root=str(w.directory / "roots" / "{node}"),
        env={"VAULT_TOKEN": server.root_token},
    )
    path = w.directory / "release.plan"
    core.save(core.plan_all(options), path)
    report = Changing(server, server.root_token)
    with pytest.raises(StalePlanError) as caught:
        core.apply_all(options, report, saved_plan.read(path))
    assert str(caught.value) == (
        # Saved: the record's mount, the policy, the record; now: one update of the policy.
        f"{path}: stale plan: Vault needs 1 step(s) now, not 3, since it was made; the hosts "
        f"were applied, Vault was not; run `picluster plan --out {path}` again"
    )
    assert report.lines[-1] == "node1: done"  # the hosts side ran to its end
    assert not any(line.startswith("[") for line in report.lines)  # no Vault step ran
    assert (w.root("node1") / "etc/vault/vault_main.hcl").is_file()
    rules: Any = server.client(server.root_token).sys.read_policy("readonly")["data"]["rules"]
    assert rules == 'path "by-hand/*" { capabilities = ["deny"] }'
