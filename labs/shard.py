"""An inventory's boxes split among emulator processes: which boxes a shard serves, where, how."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from emulator.fleet import LineNumbers, Placement, Shard
from provisioning.inventory import load_inventory
from provisioning.site import Site


class ShardError(ValueError):
    """An inventory that a shard cannot serve; the message names the host and why."""


def placements(path: Path, shard: Shard) -> dict[str, dict[str, Placement]]:
    """This shard's boxes of the inventory at `path`, by offer then by host name.

    Each box is served where its site says (`box.host`, which must be a loopback address, and
    `box.port` for its transport; the other interface on a free port), with the site's admin
    login, and its VoIP line's account at the operator is the site's (directory number, SIP
    user, password), so that `livebox provision` on the same inventory configures every shard's
    boxes and their lines register. Raises ShardError, or SiteError for a bad inventory.
    """
    sites = load_inventory(path).sites
    names = shard.of(list(sites))
    taken: dict[tuple[str, int], str] = {}
    numbers: dict[str, str] = {}
    by_offer: dict[str, dict[str, Placement]] = {}
    for name in names:
        site = sites[name]
        placement = _placement(name, site)
        where = (placement.host, site.box.port)
        if where in taken:
            raise ShardError(f"{name}: {where[0]}:{where[1]} is already {taken[where]}'s")
        taken[where] = name
        assert placement.numbers is not None
        voip = placement.numbers.voip
        if voip in numbers:
            raise ShardError(f"{name}: VoIP number {voip} is already {numbers[voip]}'s")
        numbers[voip] = name
        by_offer.setdefault(site.offer, {})[name] = placement
    return by_offer


def _placement(name: str, site: Site) -> Placement:
    box = site.box
    try:
        loopback = ipaddress.ip_address(box.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ShardError(
            f"{name}: box.host {box.host} is not a loopback address; the emulator serves boxes "
            "on 127.0.0.0/8 and ::1 only"
        )
    line = site.voip_line
    password = line.password.get_secret_value() if line.password else None
    return Placement(
        host=box.host,
        ssh_port=box.port if box.transport == "ssh" else 0,
        http_port=box.port if box.transport == "sysbus" else 0,
        admin_user=box.user,
        admin_password=box.password.get_secret_value() if box.password else None,
        numbers=LineNumbers(
            voip=line.directory_number,
            classic=site.classic_line.number,
            sip_user=line.sip_user,
        ),
        sip_password=password,
        continuity=site.classic_line.continuity,
    )
