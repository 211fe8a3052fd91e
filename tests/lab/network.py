"""The lab's network: one namespace per node, each with a veth to one bridge on the host.

Addresses are in 198.18.0.0/15, the range RFC 2544 sets aside for benchmarking test networks,
so they can never be anyone's real hosts (see /work/shared/LAB.md). Every name the lab makes
starts with ``PREFIX``: cleaning up after a run that was killed deletes exactly those.
"""

from __future__ import annotations

import json

from .host import sh

PREFIX = "pclab-"
BRIDGE = f"{PREFIX}br"
HOST_ADDRESS = "198.18.0.1"
PREFIX_LENGTH = 24


def node_address(index: int) -> str:
    """The address of the node numbered ``index`` (1, 2, 3 → 198.18.0.11, .12, .13)."""
    return f"198.18.0.{10 + index}"


def create_bridge() -> None:
    """The bridge the nodes' veths join; the host reaches the nodes through its address."""
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "address", "add", f"{HOST_ADDRESS}/{PREFIX_LENGTH}", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")


def create_namespace(namespace: str, address: str) -> None:
    """A network namespace whose ``eth0`` has ``address``, wired to the bridge.

    Args:
        namespace: its name, also the stem of the host end of the veth (``<namespace>h``).
        address: the node's IPv4 address on the bridge's /24.
    """
    sh("ip", "netns", "add", namespace)
    # The node end is made inside the namespace and named eth0 there, as on a real machine.
    sh(
        "ip",
        "link",
        "add",
        f"{namespace}h",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        namespace,
    )
    sh("ip", "link", "set", f"{namespace}h", "master", BRIDGE, "up")
    sh("ip", "-n", namespace, "address", "add", f"{address}/{PREFIX_LENGTH}", "dev", "eth0")
    sh("ip", "-n", namespace, "link", "set", "eth0", "up")
    sh("ip", "-n", namespace, "link", "set", "lo", "up")


def remove_all() -> None:
    """Delete every link and namespace whose name starts with ``PREFIX``.

    The links first: deleting a veth's host end deletes the end in the node's namespace at
    once, where deleting the namespace would free it only later, in the background.
    """
    for link in json.loads(sh("ip", "-json", "link", "show") or "[]"):
        if link["ifname"].startswith(PREFIX):
            sh("ip", "link", "delete", link["ifname"])
    for entry in json.loads(sh("ip", "-json", "netns", "list") or "[]"):
        if entry["name"].startswith(PREFIX):
            sh("ip", "netns", "delete", entry["name"])
