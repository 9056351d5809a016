"""The box's management shell: every command's output, every refusal, and any input at all."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.box import EmulatedBox
from emulator.commands import CommandError, Commit, Confirm, Rollback, parse
from emulator.dsl import LineProfile, LineStateError, Technology
from emulator.shell import Shell, ShellResult
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.datamodel import MASK

from .conftest import START

LINE = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1"
FEATURES = f"{LINE}.CallingFeatures"
FORWARD = f"{FEATURES}.CallForwardUnconditionalEnable"
CALLER_ID = f"{FEATURES}.CallerIDEnable"
PASSWORD = f"{LINE}.SIP.AuthPassword"
WEB = "Device.NAT.PortMapping.+{ExternalPort=80, InternalPort=8080, InternalClient=192.168.1.20}"


@pytest.fixture
def shell(box: EmulatedBox) -> Shell:
    return Shell(box, "admin")


def run(shell: Shell, *lines: str) -> list[str]:
    """Run lines that must succeed; the output of the last one."""
    result = ShellResult([], ok=True)
    for line in lines:
        result = shell.execute(line)
        assert result.ok, (line, result.lines)
    return result.lines


def refused(shell: Shell, line: str) -> str:
    """Run a line that must fail; its one error line."""
    result = shell.execute(line)
    assert not result.ok
    assert not result.exit
    assert len(result.lines) == 1
    assert result.lines[0].startswith("ERROR: ")
    return result.lines[0]


def value(shell: Shell, path: str) -> str:
    (line,) = run(shell, f"{path}?")
    return line.partition("=")[2]


# --- Reading ----------------------------------------------------------------------------------


def test_get_prints_each_parameter_as_path_equals_value(shell: Shell) -> None:
    lines = run(shell, "Device.DeviceInfo.?")
    assert "Device.DeviceInfo.ModelName=Livebox pro" in lines
    assert "Device.DeviceInfo.Manufacturer=Sagemcom" in lines
    assert all(line.startswith("Device.DeviceInfo.") and "=" in line for line in lines)


def test_get_of_one_parameter_prints_that_line_alone(shell: Shell) -> None:
    assert run(shell, "Device.DeviceInfo.ModelName?") == ["Device.DeviceInfo.ModelName=Livebox pro"]


def test_get_depth_counts_object_levels_below_the_path(shell: Shell) -> None:
    own = run(shell, "Device.DSL.Line.1.?0")
    below = run(shell, "Device.DSL.Line.1.?1")
    assert not any(".Stats." in line for line in own)
    assert any(line.startswith("Device.DSL.Line.1.Stats.LinkRetrain=") for line in below)
    assert run(shell, "Device.DSL.Line.1.?") == below


def test_get_shows_the_dsl_line_as_the_box_measures_it(shell: Shell) -> None:
    assert value(shell, "Device.DSL.Line.1.Status") == "Up"
    assert value(shell, "Device.DSL.Line.1.StandardUsed") == "G.993.2"
    assert int(value(shell, "Device.DSL.Line.1.DownstreamCurrRate")) > 0


async def test_get_reads_live_state_at_the_time_of_the_read(
    shell: Shell, clock: SimulatedClock
) -> None:
    assert value(shell, "Device.DeviceInfo.UpTime") == "0"
    await clock.advance(90)
    assert value(shell, "Device.DeviceInfo.UpTime") == "90"


def test_get_of_a_mistyped_parameter_suggests_the_right_name(shell: Shell) -> None:
    assert refused(shell, "Device.DeviceInfo.Manufactrer?") == (
        "ERROR: Device.DeviceInfo.Manufactrer: no 'Manufactrer' in Device.DeviceInfo. "
        "(did you mean Manufacturer?)"
    )


def test_get_of_a_missing_instance_says_there_is_no_such_instance(shell: Shell) -> None:
    assert "no such instance Device.NAT.PortMapping.7." in refused(
        shell, "Device.NAT.PortMapping.7.?"
    )


def test_a_secret_reads_masked(shell: Shell) -> None:
    run(shell, f"{PASSWORD}=hunter2-Secret")
    assert value(shell, PASSWORD) == MASK


# --- Writing to the candidate -----------------------------------------------------------------


def test_set_echoes_the_canonical_values_written(shell: Shell) -> None:
    assert run(
        shell, f"{FEATURES}.{{CallWaitingEnable=false, CallForwardOnBusyNumber=01 45 00 00 00}}"
    ) == [
        f"{FEATURES}.CallWaitingEnable=0",
        f"{FEATURES}.CallForwardOnBusyNumber=0145000000",
    ]


def test_set_of_a_secret_echoes_the_mask_only(shell: Shell) -> None:
    assert run(shell, f"{PASSWORD}=hunter2-Secret") == [f"{PASSWORD}={MASK}"]


def test_a_session_sees_what_it_set_before_commit_and_others_do_not(box: EmulatedBox) -> None:
    mine, other = Shell(box, "admin"), Shell(box, "admin")
    run(mine, f"{CALLER_ID}=0")
    assert value(mine, CALLER_ID) == "0"
    assert value(other, CALLER_ID) == "1"
    assert box.config.value(CALLER_ID) == "1"


def test_a_refused_value_names_path_value_and_reason(shell: Shell) -> None:
    assert refused(shell, f"{FEATURES}.CallWaitingEnable=maybe") == (
        f"ERROR: {FEATURES}.CallWaitingEnable: 'maybe' is not a boolean (1, 0, true or false)"
    )


def test_a_refused_secret_never_shows_the_secret(shell: Shell) -> None:
    error = refused(shell, f"{PASSWORD}={'x' * 129}")
    assert "x" * 20 not in error
    assert PASSWORD in error


def test_a_set_with_one_bad_value_writes_none_of_them(shell: Shell) -> None:
    refused(shell, f"{FEATURES}.{{CallWaitingEnable=0, CallForwardOnBusyEnable=maybe}}")
    assert run(shell, "diff") == [
        "nothing to commit: the candidate matches the running configuration"
    ]


def test_read_only_state_cannot_be_set(shell: Shell) -> None:
    assert refused(shell, "Device.DeviceInfo.SoftwareVersion=9.9") == (
        "ERROR: Device.DeviceInfo.SoftwareVersion: '9.9' is refused: the parameter is "
        "read-only (state the box sets itself)"
    )


def test_add_prints_the_new_instance_path(shell: Shell) -> None:
    assert run(shell, WEB) == ["Device.NAT.PortMapping.1."]
    assert run(shell, WEB) == ["Device.NAT.PortMapping.2."]


def test_add_without_required_values_says_which_are_missing(shell: Shell) -> None:
    assert refused(shell, "Device.NAT.PortMapping.+{ExternalPort=80}") == (
        "ERROR: Device.NAT.PortMapping.: a new instance needs InternalPort, InternalClient"
    )


def test_an_instance_is_reached_by_its_alias(shell: Shell) -> None:
    run(shell, WEB.replace("{", '{Alias="web", '))
    assert run(shell, "Device.NAT.PortMapping.web.ExternalPort=8081") == [
        "Device.NAT.PortMapping.1.ExternalPort=8081"
    ]
    assert run(shell, "Device.NAT.PortMapping.web.ExternalPort?") == [
        "Device.NAT.PortMapping.1.ExternalPort=8081"
    ]
    assert "Device.NAT.PortMapping.1.Alias=web" in run(shell, "Device.NAT.PortMapping.web.?")


def test_delete_prints_the_deleted_path_and_a_second_delete_is_refused(shell: Shell) -> None:
    run(shell, WEB, "commit")
    assert run(shell, "Device.NAT.PortMapping.1.-") == ["Device.NAT.PortMapping.1."]
    assert refused(shell, "Device.NAT.PortMapping.1.-") == (
        "ERROR: Device.NAT.PortMapping.1.: no such instance"
    )


# --- diff, commit, confirm, rollback, checkpoints ------------------------------------------------


def test_diff_prints_one_line_per_change(shell: Shell) -> None:
    run(shell, WEB, "commit")
    run(shell, f"{CALLER_ID}=0", f"{PASSWORD}=hunter2-Secret", "Device.NAT.PortMapping.1.-")
    static = "Device.DHCPv4.Server.Pool.1.StaticAddress."
    run(shell, f"{static}+{{Chaddr=00:1A:2B:3C:4D:5E, Yiaddr=192.168.1.30}}")
    static += "1."
    assert run(shell, "diff") == [
        "- Device.NAT.PortMapping.1.",
        f"+ {static}",
        f"+ {static}Alias=cpe-StaticAddress-1",
        f"+ {static}Enable=1",
        f"+ {static}Chaddr=00:1a:2b:3c:4d:5e",
        f"+ {static}Yiaddr=192.168.1.30",
        f'~ {PASSWORD}: "" -> {MASK}',
        f"~ {CALLER_ID}: 1 -> 0",
    ]


def test_diff_shows_an_empty_value_as_two_quotes(shell: Shell) -> None:
    run(shell, f"{FEATURES}.CallForwardOnBusyNumber=0145000000")
    assert run(shell, "diff") == [f'~ {FEATURES}.CallForwardOnBusyNumber: "" -> 0145000000']


def test_diff_says_when_there_is_nothing_to_commit(shell: Shell) -> None:
    assert run(shell, "diff") == [
        "nothing to commit: the candidate matches the running configuration"
    ]


def test_commit_makes_the_change_running_and_names_its_checkpoint(
    shell: Shell, box: EmulatedBox
) -> None:
    assert run(shell, f"{CALLER_ID}=0", "commit") == ["committed: checkpoint 1"]
    assert box.config.value(CALLER_ID) == "0"
    assert run(shell, "diff") == [
        "nothing to commit: the candidate matches the running configuration"
    ]


def test_commit_without_changes_is_refused(shell: Shell) -> None:
    assert refused(shell, "commit") == (
        "ERROR: nothing to commit: the candidate does not differ from the running configuration"
    )


def test_a_commit_that_breaks_a_rule_keeps_the_candidate(shell: Shell, box: EmulatedBox) -> None:
    run(shell, f"{LINE}.Enable=Enabled")
    assert refused(shell, "commit") == (
        f"ERROR: {LINE}.: an enabled line needs its number and SIP credentials (Enable=Enabled, "
        "but DirectoryNumber, SIP.URI, SIP.AuthUserName, SIP.AuthPassword are not set)"
    )
    assert box.config.value(f"{LINE}.Enable") == "Disabled"
    assert run(shell, "diff") == [f"~ {LINE}.Enable: Disabled -> Enabled"]


def test_commit_confirm_says_until_when_it_must_be_confirmed(shell: Shell) -> None:
    assert run(shell, f"{CALLER_ID}=0", "commit confirm 60") == [
        "committed: checkpoint 1; it reverts at 2026-10-05T09:01:00Z unless 'confirm' comes "
        "within 60 s"
    ]


async def test_an_unconfirmed_commit_reverts_after_its_deadline(
    shell: Shell, box: EmulatedBox, clock: SimulatedClock
) -> None:
    run(shell, f"{CALLER_ID}=0", "commit confirm 60")
    await clock.advance(59)
    assert value(shell, CALLER_ID) == "0"
    await clock.advance(2)
    assert value(shell, CALLER_ID) == "1"
    assert run(shell, "checkpoints")[0] == (
        "2 2026-10-05T09:01:00Z box automatic rollback: commit 1 not confirmed within 60 s"
    )


async def test_confirm_from_another_session_keeps_the_commit(
    box: EmulatedBox, clock: SimulatedClock
) -> None:
    run(Shell(box, "admin"), f"{CALLER_ID}=0", "commit confirm 60")
    assert run(Shell(box, "admin"), "confirm") == ["confirmed: checkpoint 1 is kept"]
    await clock.advance(120)
    assert box.config.value(CALLER_ID) == "0"


def test_confirm_without_a_pending_commit_is_refused(shell: Shell) -> None:
    assert refused(shell, "confirm") == ("ERROR: nothing to confirm: no commit awaits confirmation")


def test_rollback_undoes_the_latest_commit_and_keeps_the_candidate(
    shell: Shell, box: EmulatedBox
) -> None:
    run(shell, f"{CALLER_ID}=0", "commit", f"{FEATURES}.CallWaitingEnable=0")
    assert run(shell, "rollback") == ["rolled back: checkpoint 2: rollback to checkpoint 0"]
    assert box.config.value(CALLER_ID) == "1"
    assert run(shell, "diff") == [f"~ {FEATURES}.CallWaitingEnable: 1 -> 0"]


def test_rollback_n_returns_to_checkpoint_n_from_any_session(box: EmulatedBox) -> None:
    run(Shell(box, "admin"), f"{CALLER_ID}=0", "commit")
    run(Shell(box, "admin"), f"{FEATURES}.CallWaitingEnable=0", "commit")
    assert run(Shell(box, "tech"), "rollback 1") == [
        "rolled back: checkpoint 3: rollback to checkpoint 1"
    ]
    assert box.config.value(CALLER_ID) == "0"
    assert box.config.value(f"{FEATURES}.CallWaitingEnable") == "1"


def test_rollback_to_an_unknown_checkpoint_lists_the_kept_ones(shell: Shell) -> None:
    assert refused(shell, "rollback 7") == ("ERROR: no checkpoint 7; the kept checkpoints are: 0")


def test_checkpoints_are_listed_newest_first_with_time_author_and_summary(
    shell: Shell,
) -> None:
    run(shell, f"{CALLER_ID}=0", "commit confirm 30")
    assert run(shell, "checkpoints") == [
        f"1 2026-10-05T09:00:00Z admin set {CALLER_ID} (confirm within 30 s) "
        "[awaits confirm until 2026-10-05T09:00:30Z]",
        "0 2026-10-05T09:00:00Z box initial configuration",
    ]


# --- Calls, help, exit, blank lines ------------------------------------------------------------


def test_a_call_prints_what_the_method_returned(shell: Shell, box: EmulatedBox) -> None:
    assert run(shell, 'Device.Reboot(Reason="maintenance")') == [
        "Device.Reboot() returned Reason=maintenance"
    ]
    assert box.reboots == 1


def test_a_call_result_is_flattened_one_item_per_line(shell: Shell, box: EmulatedBox) -> None:
    box.methods[("Device.", "FactoryReset")] = lambda box, args: {
        "Done": True,
        "Kept": {"Lines": ["LINE1", "LINE2"]},
        "Note": None,
    }
    assert run(shell, "Device.FactoryReset()") == [
        "Device.FactoryReset() returned Done=1",
        "Device.FactoryReset() returned Kept.Lines.1=LINE1",
        "Device.FactoryReset() returned Kept.Lines.2=LINE2",
    ]
    box.methods[("Device.", "FactoryReset")] = lambda box, args: None
    assert run(shell, "Device.FactoryReset()") == ["Device.FactoryReset() returned nothing"]


def test_a_declared_method_the_box_does_not_run_is_an_error(shell: Shell) -> None:
    assert refused(shell, "Device.FactoryReset()") == (
        "ERROR: Device.FactoryReset() is declared but this box does not run it"
    )


def test_a_method_that_refuses_gives_its_reason(shell: Shell, box: EmulatedBox) -> None:
    def refuse(box: EmulatedBox, args: object) -> None:
        raise LineStateError("the DSL line is already down")

    box.methods[("Device.", "FactoryReset")] = refuse
    assert refused(shell, "Device.FactoryReset()") == "ERROR: the DSL line is already down"


def test_an_unknown_method_lists_the_known_ones(shell: Shell) -> None:
    assert refused(shell, "Device.Restart()") == (
        "ERROR: Device.Restart(): no such method; Device. has Reboot(), FactoryReset()"
    )


def test_help_prints_the_overview_and_each_topic(shell: Shell) -> None:
    assert any(line.startswith("  commit confirm N") for line in run(shell, "help"))
    assert run(shell, "help commit")[0] == "commit  commit confirm N"


def test_exit_ends_the_session_without_output(shell: Shell) -> None:
    assert shell.execute("exit") == ShellResult([], ok=True, exit=True)
    assert shell.execute("quit").exit


def test_blank_lines_and_comments_do_nothing(shell: Shell) -> None:
    assert shell.execute("   ") == ShellResult([], ok=True)
    assert shell.execute("# set the forwarding next") == ShellResult([], ok=True)


def test_a_line_that_is_no_command_says_where_and_why(shell: Shell) -> None:
    assert refused(shell, "Commit") == (
        "ERROR: column 1: unknown command 'Commit'; commands are lowercase: 'commit'"
    )


def test_the_prompt_names_the_box(shell: Shell) -> None:
    assert shell.prompt == "box-1> "


def test_an_internal_fault_becomes_an_error_line_without_the_command(
    shell: Shell,
    box: EmulatedBox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(path: str = "Device.") -> None:
        raise RuntimeError("dsl model exploded")

    monkeypatch.setattr(box, "refresh", broken)
    with caplog.at_level(logging.ERROR):
        line = refused(shell, "Device.DeviceInfo.?")
    assert line == "ERROR: internal error in the emulator (RuntimeError); see its log"
    assert "Device.DeviceInfo" not in caplog.text


# --- Any input at all ----------------------------------------------------------------------------

_SEEDS = (
    "Device.DeviceInfo.?",
    "Device.?0",
    "Device.DSL.Line.1.?1",
    f"{FEATURES}.?",
    f"{FORWARD}=1",
    f"{FORWARD}=0",
    f"{FORWARD}?",
    f"{CALLER_ID}=0",
    f"{CALLER_ID}=1",
    f"{FEATURES}.CallForwardUnconditionalNumber=0612345678",
    f"{FEATURES}.{{CallWaitingEnable=0, CallerIDEnable=false}}",
    f"{LINE}.Enable=Enabled",
    f"{LINE}.Enable=Disabled",
    f"{LINE}.DirectoryNumber=0145000000",
    f"{LINE}.SIP.URI=sip:+33145000000@sip.example.net",
    f"{LINE}.SIP.AuthUserName=u0145000000",
    f"{PASSWORD}=hunter2-Secret",
    "Device.DHCPv4.Server.Pool.1.LeaseTime=3600",
    "Device.IP.Interface.2.IPv4Address.1.AddressingType=Static",
    "Device.IP.Interface.2.IPv4Address.1.AddressingType=DHCP",
    WEB,
    'Device.NAT.PortMapping.+{Alias="ssh", ExternalPort=2222, InternalPort=22, '
    "InternalClient=192.168.1.2}",
    "Device.NAT.PortMapping.1.-",
    "Device.NAT.PortMapping.2.-",
    "Device.NAT.PortMapping.ssh.-",
    "Device.NAT.PortMapping.2.ExternalPort=8081",
    "Device.NAT.PortMapping.ssh.Enable=0",
    "Device.DynamicDNS.Client.+{Hostname=pro.example.net, Username=u, Password=p}",
    "Device.Reboot()",
    "Device.Reboot(Delay=5)",
    "Device.FactoryReset()",
    "diff",
    "commit",
    "commit confirm 30",
    "confirm",
    "rollback",
    "rollback 1",
    "checkpoints",
    "help",
    "help set",
    "exit",
    "",
    "# comment",
)
_NOISE = st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(
    list(".?=+-{}(),\"'\\ \t#0123456789\n\x00\x7f\u200b")
)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(_SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(line)))
        match draw(st.sampled_from(["insert", "delete", "replace"])):
            case "insert":
                line = line[:at] + draw(_NOISE) + line[at:]
            case "delete":
                line = line[:at] + line[at + draw(st.integers(1, 4)) :]
            case _:
                line = line[:at] + draw(_NOISE) + line[at + 1 :]
    return line


# Transactions often enough that commits and rollbacks succeed between the writes.
_TRANSACTIONS = st.sampled_from(["commit", "commit confirm 30", "confirm", "rollback", "diff"])
_LINES = st.one_of(
    st.sampled_from(_SEEDS),
    st.sampled_from(_SEEDS),
    st.sampled_from(_SEEDS),
    _TRANSACTIONS,
    _mutated(),
    _mutated(),
    st.text(max_size=40),
)
_OFFER = Catalogue.load().offer("optimale-pro-intense")


def _new_box() -> EmulatedBox:
    return EmulatedBox.create(
        "fuzz",
        _OFFER,
        LineProfile(Technology.ADSL2_PLUS, attenuation_db=30),
        clock=SimulatedClock(START),
    )


def _state(box: EmulatedBox, shell: Shell) -> tuple[object, ...]:
    model = box.config.model
    configuration = {
        path: text for path, text in box.config.get("Device.") if model.parameter(path).writable
    }
    return (
        configuration,
        box.config.checkpoints(),
        box.config.pending_confirm,
        shell.candidate.diff(),
    )


def _command_type(line: str) -> type | None:
    try:
        return type(parse(line))
    except CommandError:
        return None


@settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(_LINES, min_size=4, max_size=24))
def test_any_line_gives_output_or_one_error_and_a_refused_line_changes_nothing(
    lines: list[str],
) -> None:
    box = _new_box()
    shell = Shell(box, "admin")
    for line in lines:
        before = _state(box, shell)
        result = shell.execute(line)
        assert isinstance(result, ShellResult)
        assert all("\n" not in out and "\r" not in out for out in result.lines)
        after = _state(box, shell)
        if not result.ok:
            assert len(result.lines) == 1
            assert result.lines[0].startswith("ERROR: ")
            assert "internal error" not in result.lines[0]
            assert after == before, line
        elif _command_type(line) not in (Commit, Rollback, Confirm):
            # Only commit, confirm and rollback touch the running configuration.
            assert after[:3] == before[:3], line
        assert "hunter2-Secret" not in "\n".join(result.lines)


def test_every_example_of_the_help_runs_on_a_box(box: EmulatedBox) -> None:
    from emulator.commands import HELP

    examples = [
        line.strip()
        for text in HELP.values()
        for line in text.splitlines()
        if line.startswith("  Device.")
    ]
    assert len(examples) >= 8
    shell = Shell(box, "admin")
    for example in examples:
        result = shell.execute(example)
        assert result.ok, f"{example}: {result.lines}"
