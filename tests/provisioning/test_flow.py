"""The whole flow against emulated boxes: install, re-apply, drift, failures, cuts at every step."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from emulator.fleet import ServedBox
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.datamodel import DataModel
from provisioning.connect import connect
from provisioning.desired import DesiredState, desired_state
from provisioning.flow import CONFIRM_S, BoxResult, provision
from provisioning.session import Timeouts
from provisioning.site import SiteRules, load_site

from .conftest import SIP_PASSWORD, WriteSite

FIXED_IP = "Device.IP.Interface.2.IPv4Address.1.IPAddress"
LINE = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."


async def apply(path: Path, *, check: bool = False) -> tuple[BoxResult, DesiredState]:
    catalogue = Catalogue.load()
    site = load_site(path, rules=SiteRules.load(catalogue))
    offer = catalogue.offer(site.offer)
    desired = desired_state(site, offer, DataModel.load())
    target = site.target("box")
    opened = partial(connect, target, Timeouts(connect=5, login=5, command=5, commit=5))
    return await provision("box", opened, desired, offer, check=check), desired


def running(served: ServedBox) -> dict[str, str]:
    served.box.refresh()
    return dict(served.box.config.get("Device."))


def state_of(served: ServedBox, desired: DesiredState, before: dict[str, str]) -> str:
    """'old', 'new' or 'mixed': which configuration the box is in, on the site's paths."""
    now = running(served)
    paths = [p for p in desired.values if p not in desired.secrets]
    if all(now.get(p) == desired.values[p] for p in paths):
        return "new"
    if all(now.get(p) == before.get(p) for p in paths):
        return "old"
    return "mixed"


async def test_first_install_applies_verifies_and_confirms(
    livebox: ServedBox, write_site: WriteSite
) -> None:
    result, _ = await apply(write_site(livebox))
    assert (result.failed, result.changed, result.rollback) == (False, True, "none"), result.error
    assert result.transport == "ssh"
    assert any(line.startswith(f'~ {FIXED_IP}: "" -> 203.0.113.10') for line in result.diff)
    assert {c.name: c.ok for c in result.checks} == {
        "read back": True,
        "DSL": True,
        "WAN": True,
        "VoIP line": True,
    }
    assert livebox.box.config.pending_confirm is None
    assert livebox.box.config.value(f"{LINE}SIP.AuthPassword") == SIP_PASSWORD
    assert livebox.box.config.value("Device.IP.Interface.2.X_SOFTATHOME-COM_IPAddress") == (
        "203.0.113.10"
    )
    assert result.verdict.startswith("changed (")
    assert SIP_PASSWORD not in "\n".join(result.diff)


async def test_reapplying_the_same_site_changes_nothing(
    livebox: ServedBox, write_site: WriteSite
) -> None:
    path = write_site(livebox)
    await apply(path)
    checkpoints = len(livebox.box.config.checkpoints())
    again, _ = await apply(path)
    assert (again.changed, again.failed, again.diff) == (False, False, [])
    assert again.verdict == "no change: the box already matches the site"
    assert len(livebox.box.config.checkpoints()) == checkpoints


async def test_a_hand_made_change_shows_as_drift(livebox: ServedBox, write_site: WriteSite) -> None:
    path = write_site(livebox)
    await apply(path)
    by_hand = livebox.box.config.session("someone")
    by_hand.set("Device.NAT.PortMapping.site-web.", [("ExternalPort", "8081")])
    by_hand.commit()
    drift, _ = await apply(path, check=True)
    assert any("ExternalPort=8080" in line for line in drift.diff), drift.diff
    assert livebox.box.config.value("Device.NAT.PortMapping.site-web.ExternalPort") == "8081"


async def test_check_mode_shows_the_diff_and_changes_nothing(
    livebox: ServedBox, write_site: WriteSite
) -> None:
    checkpoints = livebox.box.config.checkpoints()
    result, _ = await apply(write_site(livebox), check=True)
    assert result.diff
    assert not result.changed
    assert livebox.box.config.checkpoints() == checkpoints


async def test_wrong_password_fails_clearly_without_showing_it(
    livebox: ServedBox, write_site: WriteSite
) -> None:
    result, _ = await apply(write_site(livebox, password="not-the-password"))
    assert result.failed
    assert result.rollback == "none"
    assert "not-the-password" not in (result.error or "")
    assert "wrong" in (result.error or "").lower() or "refused" in (result.error or "").lower()


async def test_an_unknown_host_key_is_refused(livebox: ServedBox, write_site: WriteSite) -> None:
    before = livebox.box.config.checkpoints()
    result, _ = await apply(write_site(livebox, known=False))
    assert result.failed
    assert "unknown host" in (result.error or "")
    assert livebox.box.config.checkpoints() == before


async def test_trust_on_first_use_is_said(livebox: ServedBox, write_site: WriteSite) -> None:
    path = write_site(livebox, known=False)
    text = path.read_text(encoding="utf-8").replace(
        "  user: admin", "  user: admin\n  trust_on_first_use: true"
    )
    path.write_text(text, encoding="utf-8")
    result, _ = await apply(path)
    assert not result.failed, result.error
    assert result.trusted_new_host_key


async def test_a_connection_cut_at_any_step_leaves_the_old_or_the_new_configuration(
    livebox: ServedBox, livebox_clock: SimulatedClock, write_site: WriteSite
) -> None:
    path = write_site(livebox)
    before = running(livebox)
    seen: set[str] = set()
    for step in range(1, 60):
        livebox.ssh.cut_after(step)
        result, desired = await apply(path)
        if not result.failed:
            assert step > 3, "the cut never struck"
            break
        assert "lost" in (result.error or "").lower() or "dropped" in (result.error or "").lower()
        await livebox_clock.advance(CONFIRM_S + 1)  # a commit left unconfirmed reverts
        state = state_of(livebox, desired, before)
        assert state in ("old", "new"), f"cut before command {step}: {state}"
        seen.add(f"{step}:{state}:{result.rollback}")
        if state == "new":
            livebox.box.config.rollback(0, by="test")
    else:
        pytest.fail("the apply never completed")
    assert state_of(livebox, desired, before) == "new"
    assert any(":box-timer" in s for s in seen), seen


async def test_over_sysbus_the_rollback_is_emulated_and_said(
    livebox: ServedBox, write_site: WriteSite
) -> None:
    first, _ = await apply(write_site(livebox, transport="sysbus"))
    assert not first.failed, first.error
    assert first.transport == "sysbus"
    # The line loses sync: the next apply writes, then fails verification, and must write the
    # old values back, since sysbus has no transaction to roll back.
    livebox.box.dsl.cut()
    moved = {
        "address": "203.0.113.20",
        "prefix": 24,
        "gateway": "203.0.113.1",
        "dns": ["198.51.100.53"],
    }
    other = write_site(livebox, transport="sysbus", name="other.yaml", fixed_ip=moved)
    failed, _ = await apply(other)
    assert failed.failed
    assert failed.rollback == "emulated"
    assert "emulated rollback" in failed.verdict
    assert "DSL" in (failed.error or "")
    assert livebox.box.config.value(FIXED_IP) == "203.0.113.10"
    assert livebox.box.config.value("Device.DNS.Client.Server.2.DNSServer") == "198.51.100.54"
