"""A bench served by several emulator processes (shards) and provisioned through one inventory."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from emulator.fleet import Fleet, Shard
from labs.cli import livebox
from labs.shard import ShardError, placements
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from provisioning.inventory import load_inventory
from provisioning.runner import run, site_jobs

EXAMPLE = Path(__file__).parents[2] / "labs" / "scenarios" / "sites" / "office.yaml"
HOSTS = [f"127.20.0.{n}" for n in range(1, 5)]


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def write_inventory(folder: Path, hosts: list[str]) -> Path:
    site = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    site["voip_line"].update(password="shard-Secret-1", registrar_port=5060, proxy_port=5060)
    site["box"] = {
        "transport": "ssh",
        "user": "admin",
        "password": "shard-Admin-1",
        "known_hosts": str(folder / "known_hosts"),
        "trust_on_first_use": True,
    }
    entries: dict[str, Any] = {}
    for n, host in enumerate(hosts, start=1):
        entries[f"office-{n}"] = {
            "box": {"host": host, "port": free_port(host)},
            "classic_line": {"number": f"01 99 00 00 {n:02d}"},
            "voip_line": {
                "directory_number": f"09 77 42 00 {n:02d}",
                "sip_user": f"+339774200{n:02d}",
            },
        }
    (folder / "known_hosts").write_text("")
    path = folder / "inventory.yaml"
    path.write_text(yaml.safe_dump({"defaults": site, "hosts": entries}, sort_keys=False))
    return path


def test_a_shard_is_one_of_n_even_contiguous_slices() -> None:
    names = [f"box-{n}" for n in range(10)]
    slices = [Shard(i, 3).of(names) for i in (1, 2, 3)]
    assert [len(s) for s in slices] == [3, 3, 4]
    assert [name for part in slices for name in part] == names
    assert Shard.parse("2/4") == Shard(2, 4)


@pytest.mark.parametrize("text", ["3/2", "0/2", "two/4", "2", "1/0"])
def test_a_bad_shard_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected I/N"):
        Shard.parse(text)


async def test_two_shards_serve_one_inventory_that_provision_configures(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, HOSTS)
    catalogue = Catalogue.load()
    clock = SimulatedClock()
    fleets = []
    try:
        for shard in (Shard(1, 2), Shard(2, 2)):  # as two `livebox emulate` processes would
            for offer, boxes in placements(path, shard).items():
                fleet = Fleet(
                    catalogue.offer(offer), names=list(boxes), clock=clock, placements=boxes
                )
                fleets.append(fleet)
                await fleet.start()
        assert [s.name for f in fleets for s in f.served] == [f"office-{n}" for n in range(1, 5)]
        assert fleets[0].core is not fleets[1].core  # one operator core per shard
        outcome = await run(site_jobs(load_inventory(path).sites), concurrency=4)
        verdicts = {name: r.verdict for name, r in outcome.results.items()}
        assert outcome.ok, verdicts
        assert all(result.changed for result in outcome.results.values())
        for fleet in fleets:
            for served in fleet.served:
                assert served.voip is not None
                assert served.voip.status == "Up"
    finally:
        for fleet in fleets:
            await fleet.close()


def test_a_box_outside_loopback_is_refused(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, HOSTS[:1])
    text = path.read_text().replace("127.20.0.1", "192.0.2.10")
    path.write_text(text)
    with pytest.raises(ShardError, match=r"office-1: box.host 192.0.2.10 is not a loopback"):
        placements(path, Shard(1, 1))


def test_two_boxes_at_one_address_are_refused(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, HOSTS[:2])
    data = yaml.safe_load(path.read_text())
    data["hosts"]["office-2"]["box"] = dict(data["hosts"]["office-1"]["box"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ShardError, match=r"office-2: 127\.20\.0\.1:[0-9]+ is already office-1's"):
        placements(path, Shard(1, 1))


def test_livebox_emulate_checks_its_shard_options_before_serving(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, HOSTS[:1])
    bad = CliRunner().invoke(livebox, ["emulate", "--inventory", str(path), "--shard", "3/2"])
    assert bad.exit_code == 2
    assert "expected I/N with 1 <= I <= N" in bad.output
    alone = CliRunner().invoke(livebox, ["emulate", "--shard", "1/2"])
    assert alone.exit_code == 2
    assert "--shard slices an inventory: give --inventory too" in alone.output
