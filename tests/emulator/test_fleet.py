"""Fleets of boxes, `livebox emulate`, and the pytest fixtures other projects get."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import asyncssh
import pytest
from aiosysbus import AIOSysbus

from emulator.fleet import Fleet, ServedBox, box_address
from emulator.pytest_plugin import PASSWORD
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock

SERIAL = "Device.DeviceInfo.SerialNumber"


async def ssh_run(served: ServedBox, command: str, password: str = PASSWORD) -> str:
    """Run one command over SSH, checking the box's host key."""
    host, port = served.endpoints()["ssh"].rsplit(":", 1)
    known = asyncssh.import_known_hosts(
        f"[{host}]:{port} {served.box.host_key.export_public_key().decode()}"
    )
    async with asyncssh.connect(
        host, int(port), username="admin", password=password, known_hosts=known
    ) as connection:
        result = await connection.run(command, check=True)
    return str(result.stdout)


def test_each_box_has_its_own_loopback_address() -> None:
    assert [box_address(i) for i in (0, 1, 253)] == ["127.10.0.1", "127.10.0.2", "127.10.0.254"]
    assert box_address(254) not in {"127.10.0.255", "127.10.1.0"}
    assert len({box_address(i) for i in range(5000)}) == 5000


async def test_the_livebox_fixture_serves_a_box_over_ssh(livebox: ServedBox) -> None:
    out = await ssh_run(livebox, f"{SERIAL}?")
    assert out == f"{SERIAL}={livebox.box.identity.serial}\n"


async def test_the_livebox_fixture_serves_sysbus_to_aiosysbus(livebox: ServedBox) -> None:
    host, port = livebox.endpoints()["http"].rsplit(":", 1)
    client = AIOSysbus(username="admin", password=PASSWORD, host=host, port=int(port))
    try:
        await client.async_connect()
        info = await client.deviceinfo.async_get_deviceinfo()
    finally:
        await client.async_close()
    assert info["status"]["SerialNumber"] == livebox.box.identity.serial


async def test_commit_confirm_expires_on_the_fixture_clock(
    livebox: ServedBox, livebox_clock: SimulatedClock
) -> None:
    path = "Device.NAT.PortMapping."
    session = livebox.box.config.session("test")
    session.add(
        path,
        [
            ("ExternalPort", "8080"),
            ("InternalPort", "80"),
            ("InternalClient", "192.168.1.20"),
            ("Protocol", "TCP"),
        ],
    )
    session.commit(confirm_s=60)
    assert livebox.box.config.get(path)
    await livebox_clock.advance(61)
    assert livebox.box.config.get(path) == []


async def test_a_fleet_on_own_addresses(livebox_fleet: object) -> None:
    fleet = await livebox_fleet(3, own_addresses=True)  # type: ignore[operator]
    hosts = [s.endpoints()["ssh"].rsplit(":", 1)[0] for s in fleet.served]
    assert hosts == ["127.10.0.1", "127.10.0.2", "127.10.0.3"]
    serials = {await ssh_run(s, f"{SERIAL}?") for s in fleet.served}
    assert len(serials) == 3


async def test_a_fleet_kept_in_a_state_dir_comes_back_after_a_restart(tmp_path: Path) -> None:
    offer = Catalogue.load().offer("optimale-pro-equilibre")
    clock = SimulatedClock()
    number = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
    async with Fleet(offer, boxes=2, clock=clock, state_dir=tmp_path) as fleet:
        first = fleet["box-002"]
        key = first.box.host_key.export_public_key()
        session = first.box.config.session("technician")
        session.set(number, [("DirectoryNumber", "0972112233")])
        session.commit()
    async with Fleet(offer, boxes=2, clock=clock, state_dir=tmp_path) as again:
        box = again["box-002"].box
        assert box.config.value(f"{number}DirectoryNumber") == "0972112233"
        assert box.host_key.export_public_key() == key
        assert again["box-001"].box.config.value(f"{number}DirectoryNumber") == ""
    assert oct((tmp_path / "box-002" / "host_key").stat().st_mode & 0o777) == "0o600"


def test_a_fleet_cannot_have_a_negative_size() -> None:
    offer = Catalogue.load().offer("optimale-pro-intense")
    with pytest.raises(ValueError, match="a fleet cannot have -1 boxes"):
        Fleet(offer, boxes=-1)


async def test_livebox_emulate_prints_each_box_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from labs.cli import main; main()",
        "emulate",
        "--boxes",
        "2",
        "--json",
        "--password",
        "pw-for-test",
        "--state",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    try:
        lines = [json.loads(await asyncio.wait_for(process.stdout.readline(), 30)) for _ in "ab"]
        assert [line["name"] for line in lines] == ["box-001", "box-002"]
        assert all(set(line) >= {"name", "ssh", "http", "user"} for line in lines)
        host, port = lines[0]["ssh"].rsplit(":", 1)
        async with asyncssh.connect(
            host, int(port), username="admin", password="pw-for-test", known_hosts=None
        ) as connection:
            result = await connection.run("Device.DeviceInfo.ModelName?", check=True)
        assert result.stdout == "Device.DeviceInfo.ModelName=Livebox pro\n"
    finally:
        process.send_signal(signal.SIGTERM)
        _, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert (tmp_path / "box-001" / "box.json").exists()
    assert "pw-for-test" not in (tmp_path / "box-001" / "box.json").read_text()


def test_livebox_emulate_refuses_an_unknown_offer() -> None:
    from click.testing import CliRunner

    from labs.cli import livebox

    result = CliRunner().invoke(livebox, ["emulate", "--offer", "nope"])
    assert result.exit_code == 1
    assert "Error: no offer named 'nope'; known offers:" in result.output
