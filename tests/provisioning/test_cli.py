"""`livebox provision` as a technician runs it: check, apply, re-apply, reports, exit status."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from emulator.fleet import ServedBox
from labs.cli import livebox

from .conftest import SIP_PASSWORD, WriteSite


async def run(*args: str) -> tuple[int, str]:
    # The command runs its own event loop: keep it off the loop that serves the boxes.
    def invoke() -> tuple[int, str]:
        result = CliRunner().invoke(livebox, list(args), env={"COLUMNS": "200"})
        return result.exit_code, result.output

    return await asyncio.to_thread(invoke)


async def test_check_then_apply_then_nothing_to_do(
    livebox: ServedBox, write_site: WriteSite, tmp_path: Path
) -> None:
    site = write_site(livebox)
    code, out = await run("provision", str(site), "--check")
    assert code == 0
    assert "would change" in out
    assert "check: nothing was changed" in out
    assert livebox.box.config.value("Device.IP.Interface.2.IPv4Address.1.AddressingType") == "DHCP"

    report, junit = tmp_path / "report.json", tmp_path / "report.xml"
    code, out = await run("provision", str(site), "--json", str(report), "--junit", str(junit))
    assert code == 0, out
    assert "verified and confirmed" in out
    document = json.loads(report.read_text())
    assert document["ok"] is True
    assert document["boxes"][0]["changed"] is True
    assert '<testsuite name="livebox provision" tests="1" failures="0"' in junit.read_text()

    code, out = await run("provision", str(site))
    assert code == 0
    assert "no change: the box already matches the site" in out
    for text in (out, report.read_text(), junit.read_text()):
        assert SIP_PASSWORD not in text


async def test_a_failed_box_makes_the_exit_status_1(
    livebox: ServedBox, write_site: WriteSite
) -> None:
    code, out = await run("provision", str(write_site(livebox, password="wrong-one")))
    assert code == 1
    assert "failed" in out
    assert "wrong-one" not in out


async def test_the_failure_budget_stops_the_run(
    livebox_fleet: object, write_site: WriteSite, tmp_path: Path
) -> None:
    fleet = await livebox_fleet(4)  # type: ignore[operator]
    site = yaml.safe_load(write_site(fleet.served[0], password="wrong").read_text())
    hosts = {}
    for served in fleet.served:
        host, port = served.endpoints()["ssh"].rsplit(":", 1)
        hosts[served.name] = {"box": {**site["box"], "host": host, "port": int(port)}}
    known = Path(site["box"]["known_hosts"])
    known.write_text(
        "".join(
            f"[{s.endpoints()['ssh'].rsplit(':', 1)[0]}]:{s.endpoints()['ssh'].rsplit(':', 1)[1]} "
            f"{s.box.host_key.export_public_key().decode().strip()}\n"
            for s in fleet.served
        )
    )
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"defaults": site, "hosts": hosts}, sort_keys=False))
    code, out = await run(
        "provision", str(inventory), "--canary", "0", "--concurrency", "1", "--max-failures", "1"
    )
    assert code == 1
    assert "stopped: failure budget spent: 2 boxes failed, 1 allowed" in out
    assert "4 boxes: 0 ok, 2 failed, 2 skipped" in out


async def test_a_bad_site_file_names_the_field_and_connects_nowhere(
    livebox: ServedBox, write_site: WriteSite
) -> None:
    bad = {"address": "10.0.0.5", "prefix": 24, "gateway": "10.0.0.1", "dns": ["198.51.100.53"]}
    before = livebox.box.config.checkpoints()
    code, out = await run("provision", str(write_site(livebox, fixed_ip=bad)))
    assert code == 1
    assert "fixed_ip.address" in out
    assert livebox.box.config.checkpoints() == before
