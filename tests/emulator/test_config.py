"""The box's configuration store: candidates, commit, commit confirm, checkpoints, rollback."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.config import (
    KEPT_CHECKPOINTS,
    BoxConfig,
    Change,
    ConfigError,
    NothingToCommit,
    StateFileError,
)
from profiles.clock import SimulatedClock
from profiles.datamodel import MASK, DataModel

TRUNK = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk."
LINE = TRUNK + "Line.LINE1."
FEATURES = LINE + "CallingFeatures."
PASSWORD = LINE + "SIP.AuthPassword"
PORTS = "Device.NAT.PortMapping."
POOL = "Device.DHCPv4.Server.Pool.1."
WAN = "Device.IP.Interface.2.IPv4Address.1."
START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)
WEB = [("ExternalPort", "80"), ("InternalPort", "8080"), ("InternalClient", "192.168.1.20")]


@pytest.fixture(scope="module")
def model() -> DataModel:
    return DataModel.load()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def box(model: DataModel, clock: SimulatedClock) -> BoxConfig:
    return BoxConfig(model, clock, values={"Device.DeviceInfo.SerialNumber": "LB0042"})


def running(box: BoxConfig) -> dict[str, str]:
    return dict(box.get("Device."))


def lease_time(box: BoxConfig, seconds: str) -> int:
    """Commit one change (the DHCP lease time) from a session of its own; its checkpoint."""
    session = box.session("tech")
    session.set(POOL, [("LeaseTime", seconds)])
    return session.commit().number


# --- A box and its running configuration ---------------------------------------------------------


def test_a_new_box_runs_the_defaults_with_the_values_it_was_given(box: BoxConfig) -> None:
    assert box.value("Device.DeviceInfo.SerialNumber") == "LB0042"
    assert box.value("Device.DeviceInfo.ModelName") == "Livebox pro"
    assert box.value(POOL + "LeaseTime") == "86400"
    assert [c.number for c in box.checkpoints()] == [0]
    assert box.checkpoints()[0].summary == "initial configuration"


def test_a_box_can_start_with_instances(model: DataModel, clock: SimulatedClock) -> None:
    values = {f"{PORTS}4.{name}": value for name, value in WEB}
    box = BoxConfig(model, clock, values=values)
    assert box.value(f"{PORTS}4.Alias") == "cpe-PortMapping-4"
    assert box.session("a").add(PORTS, WEB) == f"{PORTS}5."


def test_a_box_refuses_bad_starting_values(model: DataModel, clock: SimulatedClock) -> None:
    with pytest.raises(ConfigError, match="'70000' is not a port"):
        BoxConfig(model, clock, values={f"{PORTS}1.ExternalPort": "70000"})
    with pytest.raises(ConfigError, match="needs InternalPort, InternalClient"):
        BoxConfig(model, clock, values={f"{PORTS}1.ExternalPort": "80"})


def test_boxes_share_the_data_model_but_not_their_values(
    model: DataModel, clock: SimulatedClock
) -> None:
    first, second = BoxConfig(model, clock), BoxConfig(model, clock)
    lease_time(first, "3600")
    assert first.value(POOL + "LeaseTime") == "3600"
    assert second.value(POOL + "LeaseTime") == "86400"
    assert first.model is second.model


def test_get_limits_the_depth_in_object_levels(box: BoxConfig) -> None:
    own = box.get(LINE, depth=0)
    assert [path for path, _ in own] == [
        LINE + "Enable",
        LINE + "DirectoryNumber",
        LINE + "Status",
        LINE + "CallState",
        LINE + "X_LIVEBOX-LAB_StatusInfo",
    ]
    assert (LINE + "SIP.URI", "") in box.get(LINE, depth=1)
    assert len(box.get(LINE)) == len(box.get(LINE, depth=1))
    assert box.get(LINE + "Enable") == [(LINE + "Enable", "Disabled")]
    with pytest.raises(ConfigError, match="a depth is 0 or more"):
        box.get(LINE, depth=-1)


def test_get_of_a_missing_instance_is_an_error(box: BoxConfig) -> None:
    assert box.get(PORTS) == []
    with pytest.raises(ConfigError, match=r"Device.NAT.PortMapping.3.: no such instance"):
        box.get(f"{PORTS}3.")
    with pytest.raises(ConfigError, match="no such instance"):
        box.value(f"{PORTS}3.ExternalPort")


# --- Writes go to a candidate --------------------------------------------------------------------


def test_writes_go_to_the_candidate_not_to_running(box: BoxConfig) -> None:
    session = box.session("alice")
    session.set(FEATURES, [("CallWaitingEnable", "false")])
    assert dict(session.get(FEATURES))[FEATURES + "CallWaitingEnable"] == "0"
    assert box.value(FEATURES + "CallWaitingEnable") == "1"
    assert dict(box.session("bob").get(FEATURES))[FEATURES + "CallWaitingEnable"] == "1"


def test_rejected_write_names_path_value_and_reason_and_changes_nothing(box: BoxConfig) -> None:
    session = box.session("alice")
    session.set(FEATURES, [("CallerIDEnable", "0")])
    before = session.get("Device.")
    with pytest.raises(ConfigError) as error:
        session.set(
            FEATURES,
            [("CallWaitingEnable", "0"), ("CallForwardOnNoAnswerRingTimeout", "500")],
        )
    assert str(error.value) == (
        f"{FEATURES}CallForwardOnNoAnswerRingTimeout: '500' is not a whole number (5 to 120)"
    )
    assert error.value.path == FEATURES + "CallForwardOnNoAnswerRingTimeout"
    assert error.value.value == "500"
    assert session.get("Device.") == before
    assert [c.path for c in session.diff()] == [FEATURES + "CallerIDEnable"]


def test_read_only_state_cannot_be_written(box: BoxConfig) -> None:
    with pytest.raises(ConfigError, match=r"LINE1.Status: 'Up' is refused: .* read-only"):
        box.session("alice").set(LINE, [("Status", "Up")])


def test_an_unknown_path_is_refused_with_the_close_name(box: BoxConfig) -> None:
    session = box.session("alice")
    with pytest.raises(
        ConfigError, match=r"no 'CallWaitingEnabled' .* \(did you mean CallWaitingEnable "
    ):
        session.set(FEATURES, [("CallWaitingEnabled", "1")])
    with pytest.raises(ConfigError, match=re.escape("ending with '.'")):
        session.set(FEATURES + "CallWaitingEnable", [("", "1")])
    assert not session.changed


def test_set_takes_full_paths_from_the_empty_object_path(box: BoxConfig) -> None:
    session = box.session("provisioning")
    session.set("", [(WAN + "AddressingType", "Static"), (FEATURES + "MWIEnable", "0")])
    assert {c.path for c in session.diff()} == {WAN + "AddressingType", FEATURES + "MWIEnable"}


def test_diff_shows_the_candidate_against_running(box: BoxConfig) -> None:
    session = box.session("alice")
    session.set(FEATURES, [("CallForwardOnBusyNumber", "0612345678")])
    session.set(FEATURES, [("CallForwardOnBusyEnable", "1")])
    session.set(FEATURES, [("MWIEnable", "1")])  # already so: no difference
    assert session.diff() == [
        Change("set", FEATURES + "CallForwardOnBusyEnable", "0", "1"),
        Change("set", FEATURES + "CallForwardOnBusyNumber", "", "0612345678"),
    ]


def test_discard_forgets_the_pending_changes(box: BoxConfig) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    session.add(PORTS, WEB)
    session.discard()
    assert session.diff() == []
    assert not session.changed


# --- Commit --------------------------------------------------------------------------------------


def test_commit_applies_everything_and_makes_a_numbered_checkpoint(
    box: BoxConfig, clock: SimulatedClock
) -> None:
    session = box.session("alice")
    session.set(FEATURES, [("CallForwardUnconditionalNumber", "+33612345678")])
    session.set(FEATURES, [("CallForwardUnconditionalEnable", "1")])
    checkpoint = session.commit()
    assert checkpoint.number == 1
    assert checkpoint.by == "alice"
    assert checkpoint.at == START
    assert checkpoint.summary == (
        f"set {FEATURES}CallForwardUnconditionalEnable; "
        f"set {FEATURES}CallForwardUnconditionalNumber"
    )
    assert box.value(FEATURES + "CallForwardUnconditionalEnable") == "1"
    assert session.diff() == []
    assert box.checkpoints()[-1] == checkpoint


def test_commit_with_nothing_to_change_says_so_and_makes_no_checkpoint(box: BoxConfig) -> None:
    session = box.session("alice")
    with pytest.raises(NothingToCommit, match="nothing to commit"):
        session.commit()
    session.set(POOL, [("LeaseTime", "86400")])
    with pytest.raises(NothingToCommit):
        session.commit()
    assert [c.number for c in box.checkpoints()] == [0]


def test_commit_checks_the_rules_between_parameters(box: BoxConfig) -> None:
    session = box.session("alice")
    session.set(FEATURES, [("CallForwardOnNoAnswerEnable", "1")])
    with pytest.raises(ConfigError, match="forwarding on no answer needs a number"):
        session.commit()
    assert box.value(FEATURES + "CallForwardOnNoAnswerEnable") == "0"
    assert session.changed


def test_a_fixed_ip_is_committed_with_its_gateway_and_dns(box: BoxConfig) -> None:
    session = box.session("provisioning")
    session.set(WAN, [("AddressingType", "Static"), ("IPAddress", "203.0.113.10")])
    with pytest.raises(ConfigError, match="a fixed IP needs its address, mask and gateway"):
        session.commit()
    session.set(WAN, [("SubnetMask", "255.255.255.248")])
    session.set("Device.Routing.Router.1.IPv4Forwarding.1.", [("GatewayIPAddress", "203.0.113.9")])
    session.set("Device.DNS.Client.Server.1.", [("DNSServer", "80.10.246.2")])
    session.commit()
    assert box.value(WAN + "IPAddress") == "203.0.113.10"


def test_a_candidate_sees_other_sessions_commits_under_its_own_changes(box: BoxConfig) -> None:
    alice, bob = box.session("alice"), box.session("bob")
    alice.set(FEATURES, [("MWIEnable", "0")])
    lease_time(box, "7200")
    seen = dict(alice.get("Device."))
    assert seen[POOL + "LeaseTime"] == "7200"
    assert seen[FEATURES + "MWIEnable"] == "0"
    assert dict(bob.get(FEATURES))[FEATURES + "MWIEnable"] == "1"
    alice.commit()
    assert box.value(POOL + "LeaseTime") == "7200"


def test_commit_fails_with_nothing_applied_when_another_session_deleted_the_instance(
    box: BoxConfig,
) -> None:
    setup = box.session("setup")
    instance = setup.add(PORTS, WEB)
    setup.commit()
    alice, bob = box.session("alice"), box.session("bob")
    alice.set(instance, [("ExternalPort", "8000")])
    alice.set(FEATURES, [("MWIEnable", "0")])
    bob.delete(instance)
    bob.commit()
    before = running(box)
    with pytest.raises(ConfigError) as error:
        alice.commit()
    assert str(error.value) == (
        f"commit refused, nothing applied: {instance} was deleted by another session "
        "since this session changed it"
    )
    assert running(box) == before
    assert [c.path for c in alice.diff()] == [FEATURES + "MWIEnable"]


# --- Tables --------------------------------------------------------------------------------------


def test_add_gives_the_next_number_and_never_reuses_one(box: BoxConfig) -> None:
    session = box.session("alice")
    first = session.add(PORTS, WEB)
    second = session.add(PORTS, [*WEB[:2], ("InternalClient", "192.168.1.21")])
    assert (first, second) == (f"{PORTS}1.", f"{PORTS}2.")
    session.commit()
    session.delete(second)
    session.commit()
    assert session.add(PORTS, WEB) == f"{PORTS}3."
    session.discard()
    assert box.session("bob").add(PORTS, WEB) == f"{PORTS}4."


def test_add_honours_the_alias_which_then_names_the_instance(box: BoxConfig) -> None:
    session = box.session("alice")
    instance = session.add(PORTS, [("Alias", "web"), *WEB])
    session.set(f"{PORTS}web.", [("Protocol", "both")])
    session.commit()
    assert box.value(f"{PORTS}web.Protocol") == "BOTH"
    assert box.get(f"{PORTS}web.")[0] == (instance + "Alias", "web")
    other = box.session("bob").add(PORTS, WEB)
    assert box.session("bob").get(PORTS) != []
    assert other == f"{PORTS}2."


def test_an_alias_is_unique_in_its_table(box: BoxConfig) -> None:
    session = box.session("alice")
    session.add(PORTS, [("Alias", "web"), *WEB])
    with pytest.raises(ConfigError, match=r"PortMapping.2.Alias: 'web' is already the alias of"):
        session.add(PORTS, [("Alias", "web"), *WEB])
    with pytest.raises(ConfigError, match="is not a name of letters, digits"):
        session.add(PORTS, [("Alias", "7"), *WEB])


def test_an_alias_taken_meanwhile_by_another_session_fails_the_commit(box: BoxConfig) -> None:
    alice, bob = box.session("alice"), box.session("bob")
    alice.add(PORTS, [("Alias", "web"), *WEB])
    bob.add(PORTS, [("Alias", "web"), *WEB])
    alice.commit()
    with pytest.raises(
        ConfigError, match=re.escape("is already the alias of Device.NAT.PortMapping.1.")
    ):
        bob.commit()


def test_a_new_instance_needs_its_required_values(box: BoxConfig) -> None:
    with pytest.raises(ConfigError) as error:
        box.session("alice").add(PORTS, [("ExternalPort", "80")])
    assert str(error.value) == f"{PORTS}: a new instance needs InternalPort, InternalClient"


def test_a_table_holds_at_most_its_max_instances(box: BoxConfig) -> None:
    session = box.session("alice")
    host = [("Username", "me"), ("Password", "pw")]
    for number in range(5):
        session.add("Device.DynamicDNS.Client.", [("Hostname", f"h{number}.example.net"), *host])
    with pytest.raises(ConfigError, match="the table is full \\(5 instances at most\\)"):
        session.add("Device.DynamicDNS.Client.", [("Hostname", "h5.example.net"), *host])


def test_max_instances_is_checked_again_at_commit(box: BoxConfig) -> None:
    alice, bob = box.session("alice"), box.session("bob")
    host = [("Username", "me"), ("Password", "pw")]
    for number in range(3):
        alice.add("Device.DynamicDNS.Client.", [("Hostname", f"a{number}.example.net"), *host])
        bob.add("Device.DynamicDNS.Client.", [("Hostname", f"b{number}.example.net"), *host])
    alice.commit()
    with pytest.raises(ConfigError, match="would hold more than 5 instances"):
        bob.commit()


def test_add_goes_to_tables_only(box: BoxConfig) -> None:
    with pytest.raises(ConfigError, match="not a table; instances are added to"):
        box.session("alice").add(POOL)


def test_delete_removes_an_instance_and_only_an_instance(box: BoxConfig) -> None:
    session = box.session("alice")
    instance = session.add(
        POOL + "StaticAddress.", [("Chaddr", "00:1a:2b:3c:4d:5e"), ("Yiaddr", "192.168.1.30")]
    )
    session.commit()
    session.delete(instance)
    assert session.diff() == [Change("delete", instance, None, None)]
    session.commit()
    assert box.get(POOL + "StaticAddress.") == []
    with pytest.raises(ConfigError, match="no such instance"):
        session.delete(instance)
    with pytest.raises(ConfigError, match="only an instance of a table can be deleted"):
        session.delete(POOL)


def test_an_instance_added_then_deleted_changes_nothing(box: BoxConfig) -> None:
    session = box.session("alice")
    session.delete(session.add(PORTS, WEB))
    assert session.diff() == []


def test_an_added_instance_shows_in_the_diff_with_all_its_values(box: BoxConfig) -> None:
    session = box.session("alice")
    instance = session.add(PORTS, WEB)
    changes = session.diff()
    assert changes[0] == Change("add", instance, None, None)
    assert Change("set", instance + "Alias", None, "cpe-PortMapping-1") in changes
    assert Change("set", instance + "ExternalPort", None, "80") in changes
    assert len(changes) == 1 + len(box.model.parameters(instance))


# --- Secrets -------------------------------------------------------------------------------------


def test_secret_is_masked_in_get_diff_and_errors(box: BoxConfig) -> None:
    heard: list[list[Change]] = []
    box.subscribe(heard.append)
    session = box.session("alice")
    session.set(LINE + "SIP.", [("AuthPassword", "s3cr3t-sip")])
    assert session.get(PASSWORD) == [(PASSWORD, MASK)]
    assert session.diff() == [Change("set", PASSWORD, "", MASK)]
    with pytest.raises(ConfigError) as error:
        session.set(LINE + "SIP.", [("AuthPassword", "s3cr3t-sip" * 20)])
    assert "s3cr3t" not in str(error.value)
    assert error.value.value == MASK
    session.commit()
    assert box.get(PASSWORD) == [(PASSWORD, MASK)]
    assert heard == [[Change("set", PASSWORD, "", MASK)]]
    assert "s3cr3t" not in repr(box.checkpoints())
    assert box.value(PASSWORD) == "s3cr3t-sip"


def test_a_secret_in_an_unknown_path_is_not_echoed(box: BoxConfig) -> None:
    with pytest.raises(ConfigError) as error:
        box.session("alice").set(LINE + "SIP.", [("AuthPasword", "s3cr3t-sip")])
    assert "s3cr3t" not in str(error.value)


# --- State the box sets itself -------------------------------------------------------------------


def test_the_box_updates_its_state_without_a_commit(box: BoxConfig) -> None:
    heard: list[list[Change]] = []
    box.subscribe(heard.append)
    box.set_state(LINE + "Status", "up")
    box.set_state("Device.DeviceInfo.UpTime", "3600")
    assert box.value(LINE + "Status") == "Up"
    assert [c.number for c in box.checkpoints()] == [0]
    assert heard == []


def test_state_updates_are_type_checked_and_stay_off_the_configuration(box: BoxConfig) -> None:
    with pytest.raises(ConfigError, match="'soon' is not a whole number"):
        box.set_state("Device.DeviceInfo.UpTime", "soon")
    with pytest.raises(ConfigError, match="is configuration, not state"):
        box.set_state(FEATURES + "MWIEnable", "0")


# --- Commit confirm ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_commit_confirm_reverts_when_not_confirmed_in_time(
    box: BoxConfig, clock: SimulatedClock
) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    checkpoint = session.commit(confirm_s=60)
    assert box.pending_confirm == (checkpoint.number, START + dt.timedelta(seconds=60))
    await clock.advance(59)
    assert box.value(POOL + "LeaseTime") == "3600"
    await clock.advance(1)
    assert box.value(POOL + "LeaseTime") == "86400"
    assert box.pending_confirm is None
    revert = box.checkpoints()[-1]
    assert revert.summary == "automatic rollback: commit 1 not confirmed within 60 s"
    assert revert.at == START + dt.timedelta(seconds=60)
    assert revert.number == 2


@pytest.mark.asyncio
async def test_a_confirm_in_time_keeps_the_commit(box: BoxConfig, clock: SimulatedClock) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    session.commit(confirm_s=60)
    await clock.advance(30)
    box.confirm("bob")
    await clock.advance(3600)
    assert box.value(POOL + "LeaseTime") == "3600"
    assert box.pending_confirm is None
    assert [c.number for c in box.checkpoints()] == [0, 1]


@pytest.mark.asyncio
async def test_revert_survives_the_session_going_away(
    box: BoxConfig, clock: SimulatedClock
) -> None:
    def commit_and_leave() -> None:
        session = box.session("alice")
        session.set(FEATURES, [("MWIEnable", "0")])
        session.commit(confirm_s=120)

    commit_and_leave()
    gc.collect()
    await clock.advance(120)
    assert box.value(FEATURES + "MWIEnable") == "1"


@pytest.mark.asyncio
async def test_another_commit_is_refused_while_a_confirm_is_pending(
    box: BoxConfig, clock: SimulatedClock
) -> None:
    lease = box.session("alice")
    lease.set(POOL, [("LeaseTime", "3600")])
    lease.commit(confirm_s=60)
    other = box.session("bob")
    other.set(FEATURES, [("MWIEnable", "0")])
    with pytest.raises(ConfigError) as error:
        other.commit()
    assert str(error.value) == (
        "commit refused: commit 1 awaits confirmation until 2026-10-05 09:01:00 UTC; "
        "confirm it or roll it back first"
    )
    assert other.changed
    box.confirm("bob")
    other.commit()
    box.close()


def test_confirm_with_nothing_pending_is_an_error(box: BoxConfig) -> None:
    with pytest.raises(ConfigError, match="nothing to confirm: no commit awaits confirmation"):
        box.confirm("alice")


@pytest.mark.parametrize("seconds", [0, -5, 86_401, True])
def test_commit_confirm_needs_a_number_of_seconds(box: BoxConfig, seconds: int) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    with pytest.raises(ConfigError, match="give a number of seconds from 1 to 86400"):
        session.commit(confirm_s=seconds)
    assert box.value(POOL + "LeaseTime") == "86400"


@pytest.mark.asyncio
async def test_rollback_during_a_pending_confirm_cancels_it(
    box: BoxConfig, clock: SimulatedClock
) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    session.commit(confirm_s=60)
    checkpoint = box.rollback(None, "bob")
    assert checkpoint.summary == "rollback to checkpoint 0 (cancels the confirm of commit 1)"
    assert box.pending_confirm is None
    await clock.advance(120)
    assert [c.number for c in box.checkpoints()] == [0, 1, 2]


def test_without_an_event_loop_the_deadline_is_checked_at_the_next_use(
    box: BoxConfig, clock: SimulatedClock
) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    session.commit(confirm_s=60)
    asyncio.run(clock.advance(61))
    assert box.value(POOL + "LeaseTime") == "86400"
    assert box.checkpoints()[-1].summary.startswith("automatic rollback: commit 1")


# --- Checkpoints and rollback --------------------------------------------------------------------


def test_rollback_restores_a_checkpoint_as_a_new_commit(box: BoxConfig) -> None:
    lease_time(box, "3600")
    lease_time(box, "7200")
    lease_time(box, "600")
    checkpoint = box.rollback(2, "bob")
    assert box.value(POOL + "LeaseTime") == "7200"
    assert (checkpoint.number, checkpoint.by) == (4, "bob")
    assert checkpoint.summary == "rollback to checkpoint 2"


def test_rollback_alone_undoes_the_latest_commit(box: BoxConfig) -> None:
    lease_time(box, "3600")
    lease_time(box, "7200")
    box.rollback(None, "bob")
    assert box.value(POOL + "LeaseTime") == "3600"


def test_rollback_restores_deleted_instances_and_removes_added_ones(box: BoxConfig) -> None:
    session = box.session("alice")
    kept = session.add(PORTS, WEB)
    session.commit()
    session.delete(kept)
    session.add(PORTS, [*WEB[:2], ("InternalClient", "192.168.1.99")])
    session.commit()
    box.rollback(1, "bob")
    assert [path for path, _ in box.get(PORTS, depth=1) if path.endswith("Alias")] == [
        kept + "Alias"
    ]


def test_rollback_to_an_unknown_checkpoint_lists_the_kept_ones(box: BoxConfig) -> None:
    lease_time(box, "3600")
    with pytest.raises(ConfigError) as error:
        box.rollback(9, "bob")
    assert str(error.value) == "no checkpoint 9; the kept checkpoints are: 0, 1"


def test_rollback_with_nothing_to_undo_says_so(box: BoxConfig) -> None:
    with pytest.raises(ConfigError, match="nothing to roll back"):
        box.rollback(None, "bob")
    lease_time(box, "3600")
    with pytest.raises(NothingToCommit, match="already matches it"):
        box.rollback(1, "bob")


def test_rollback_keeps_the_state_the_box_set(box: BoxConfig) -> None:
    lease_time(box, "3600")
    box.set_state("Device.DeviceInfo.UpTime", "7200")
    box.set_state(LINE + "Status", "Up")
    box.rollback(0, "bob")
    assert box.value("Device.DeviceInfo.UpTime") == "7200"
    assert box.value(LINE + "Status") == "Up"
    assert box.value("Device.DeviceInfo.SerialNumber") == "LB0042"


def test_only_the_last_50_checkpoints_are_kept(box: BoxConfig) -> None:
    for number in range(KEPT_CHECKPOINTS + 5):
        lease_time(box, str(1000 + number))
    numbers = [c.number for c in box.checkpoints()]
    assert numbers == list(range(6, 56))
    with pytest.raises(ConfigError, match="the kept checkpoints are: 6, 7"):
        box.rollback(5, "bob")


# --- Subscribers ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_subscribers_hear_commits_rollbacks_and_automatic_reverts(
    box: BoxConfig, clock: SimulatedClock
) -> None:
    heard: list[list[Change]] = []
    box.subscribe(heard.append)
    lease_time(box, "3600")
    box.rollback(None, "bob")
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "600")])
    session.commit(confirm_s=10)
    await clock.advance(10)
    lease = POOL + "LeaseTime"
    assert heard == [
        [Change("set", lease, "86400", "3600")],
        [Change("set", lease, "3600", "86400")],
        [Change("set", lease, "86400", "600")],
        [Change("set", lease, "600", "86400")],
    ]


def test_a_failing_subscriber_does_not_undo_the_commit(box: BoxConfig) -> None:
    heard: list[list[Change]] = []

    def broken(changes: list[Change]) -> None:
        raise RuntimeError("listener bug")

    box.subscribe(broken)
    box.subscribe(heard.append)
    lease_time(box, "3600")
    assert box.value(POOL + "LeaseTime") == "3600"
    assert len(heard) == 1
    box.unsubscribe(broken)


# --- Saving and loading --------------------------------------------------------------------------


def test_save_and_load_keep_running_checkpoints_and_counters(
    box: BoxConfig, model: DataModel, clock: SimulatedClock, tmp_path: Path
) -> None:
    session = box.session("alice")
    session.add(PORTS, WEB)
    session.set(LINE + "SIP.", [("AuthPassword", "s3cr3t-sip")])
    session.commit()
    session.delete(f"{PORTS}1.")
    session.commit()
    box.save(tmp_path / "box.json")
    again = BoxConfig.load(tmp_path / "box.json", model, clock)
    assert again.get("Device.") == box.get("Device.")
    assert again.value(PASSWORD) == "s3cr3t-sip"
    assert again.checkpoints() == box.checkpoints()
    assert again.session("bob").add(PORTS, WEB) == f"{PORTS}2."
    again.rollback(1, "bob")
    assert again.value(f"{PORTS}1.ExternalPort") == "80"


def test_the_saved_file_is_private_and_replaced_at_once(box: BoxConfig, tmp_path: Path) -> None:
    target = tmp_path / "box.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o644)
    box.save(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["box.json"]


def test_commits_are_saved_to_the_state_file(
    model: DataModel, clock: SimulatedClock, tmp_path: Path
) -> None:
    state = tmp_path / "box.json"
    box = BoxConfig(model, clock, state_file=state)
    lease_time(box, "3600")
    assert BoxConfig.load(state, model, clock).value(POOL + "LeaseTime") == "3600"
    box.rollback(None, "bob")
    assert BoxConfig.load(state, model, clock).value(POOL + "LeaseTime") == "86400"


def test_a_commit_the_disk_refuses_is_not_applied(
    model: DataModel, clock: SimulatedClock, tmp_path: Path
) -> None:
    box = BoxConfig(model, clock, state_file=tmp_path / "missing" / "box.json")
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    with pytest.raises(FileNotFoundError):
        session.commit()
    assert box.value(POOL + "LeaseTime") == "86400"
    assert session.changed


@pytest.mark.asyncio
async def test_pending_confirm_survives_save_and_load(
    box: BoxConfig, model: DataModel, clock: SimulatedClock, tmp_path: Path
) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    session.commit(confirm_s=60)
    await clock.advance(20)
    box.save(tmp_path / "box.json")
    box.close()
    del box
    again = BoxConfig.load(tmp_path / "box.json", model, clock)
    assert again.pending_confirm == (1, START + dt.timedelta(seconds=60))
    await clock.advance(39)
    assert again.value(POOL + "LeaseTime") == "3600"
    await clock.advance(1)
    assert again.value(POOL + "LeaseTime") == "86400"
    assert again.checkpoints()[-1].at == START + dt.timedelta(seconds=60)
    reloaded = BoxConfig.load(tmp_path / "box.json", model, clock)
    assert reloaded.pending_confirm is None
    assert reloaded.value(POOL + "LeaseTime") == "86400"


@pytest.mark.asyncio
async def test_a_confirm_deadline_passed_while_stopped_reverts_at_load(
    box: BoxConfig, model: DataModel, clock: SimulatedClock, tmp_path: Path
) -> None:
    session = box.session("alice")
    session.set(POOL, [("LeaseTime", "3600")])
    session.commit(confirm_s=60)
    box.save(tmp_path / "box.json")
    box.close()
    await clock.advance(600)
    again = BoxConfig.load(tmp_path / "box.json", model, clock)
    assert again.value(POOL + "LeaseTime") == "86400"
    assert again.checkpoints()[-1].summary == (
        "automatic rollback: commit 1 not confirmed within 60 s"
    )
    assert BoxConfig.load(tmp_path / "box.json", model, clock).pending_confirm is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"format": "livebox-lab box configuration", "version": 2}', "version"),
    ],
)
def test_a_broken_state_file_names_the_file_and_why(
    model: DataModel, clock: SimulatedClock, tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "box.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(StateFileError) as error:
        BoxConfig.load(path, model, clock)
    assert str(path) in str(error.value)
    assert reason in str(error.value)


def test_a_state_file_with_a_bad_value_is_refused(
    box: BoxConfig, model: DataModel, clock: SimulatedClock, tmp_path: Path
) -> None:
    path = tmp_path / "box.json"
    box.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["running"][POOL + "LeaseTime"] = "forever"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StateFileError, match="'forever' is not a whole number"):
        BoxConfig.load(path, model, clock)
    with pytest.raises(StateFileError, match="cannot read the file"):
        BoxConfig.load(tmp_path / "none.json", model, clock)


# --- Any sequence of writes ----------------------------------------------------------------------

WRITES = [
    (FEATURES, "CallWaitingEnable", "0", True),
    (FEATURES, "CallWaitingEnable", "maybe", False),
    (FEATURES, "CallForwardOnNoAnswerRingTimeout", "30", True),
    (FEATURES, "CallForwardOnNoAnswerRingTimeout", "3", False),
    (FEATURES, "CallForwardOnBusyNumber", "0612345678", True),
    (FEATURES, "CallForwardOnBusyNumber", "*21*", False),
    (LINE + "SIP.", "AuthPassword", "pw", True),
    (LINE + "SIP.", "AuthPassword", "x" * 129, False),
    (LINE, "Status", "Up", False),
    (LINE, "Nonexistent", "1", False),
    (POOL, "MinAddress", "192.168.1.20", True),
    (POOL, "MinAddress", "192.168.1", False),
    (f"{PORTS}1.", "ExternalPort", "8080", True),
    (f"{PORTS}1.", "ExternalPort", "65536", False),
    (f"{PORTS}9.", "ExternalPort", "8080", False),
    (TRUNK + "SIP.", "RegistrarServer", "sip.example.net", True),
    (TRUNK + "SIP.", "RegistrarServer", "-bad-.example", False),
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(WRITES), st.sampled_from(WRITES)), max_size=12))
def test_writes_leave_running_alone_and_refused_ones_leave_the_candidate_alone(
    steps: list[tuple[tuple[str, str, str, bool], tuple[str, str, str, bool]]],
) -> None:
    box = BoxConfig(
        DataModel.load(),
        SimulatedClock(START),
        values={f"{PORTS}1.{name}": value for name, value in WEB},
    )
    session = box.session("hypothesis")
    committed = running(box)
    for first, second in steps:
        pairs = [first] if first == second else [first, second]
        before, diff = session.get("Device."), session.diff()
        valid = all(ok for *_, ok in pairs)
        writes = [(path + name, value) for path, name, value, _ in pairs]
        try:
            session.set("", writes)
        except ConfigError:
            assert not valid
            assert session.get("Device.") == before
            assert session.diff() == diff
        else:
            assert valid
        assert running(box) == committed
    expected = session.get("Device.")
    if session.diff():
        session.commit()
    assert box.get("Device.") == expected
