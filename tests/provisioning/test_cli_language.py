"""Command lines and replies of the box's language, without a box: quoting, grouping, parsing."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.commands import Add, Commit, Delete, Get, Set, parse
from provisioning.cli_language import (
    CONFIRM,
    MAX_LINE,
    ROLLBACK,
    InvalidCommand,
    ReplyReader,
    UnexpectedReply,
    add_command,
    added_instance,
    check_confirmed,
    checkpoint_of,
    commit_command,
    delete_command,
    get_command,
    parameters_of,
    quote_value,
    rejection,
    rolled_back_checkpoint,
    set_commands,
)

FEATURES = (
    "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
    "CallingFeatures"
)
SIP = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1.SIP"

TRICKY_VALUES = [
    "",
    " ",
    "two words",
    "  leading and trailing  ",
    'say "hi"',
    "it's",
    "back\\slash\\",
    "#not-a-comment",
    "a,b,c",
    "{braces}",
    "(parens)",
    "a=b=c",
    "Zürich café",
    "東京",
    "emoji \U0001f600",
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "bell\x07",
    "zero\u200bwidth",
    "line\u2028separator",
    "\\u0041 is not an escape here",
    "'single'",
    '"',
    "ends with a backslash \\",
]


# --- Quoting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_a_quoted_value_reads_back_exactly_in_braces_and_alone(value: str) -> None:
    (several,) = set_commands({f"{SIP}.AuthUserName": value, f"{SIP}.URI": value})
    assert parse(several.text) == Set(SIP, (("AuthUserName", value), ("URI", value)))
    assert parse(f"{SIP}.AuthUserName={quote_value(value)}") == Set(SIP, (("AuthUserName", value),))


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60))
def test_any_text_reads_back_exactly(value: str) -> None:
    (command,) = set_commands({f"{SIP}.AuthUserName": value})
    assert parse(command.text) == Set(SIP, (("AuthUserName", value),))
    assert "\n" not in command.text
    assert "\r" not in command.text


def test_simple_values_are_written_bare() -> None:
    for value in ("192.168.1.20", "sip:+33145000000@sip.example.net", "Enabled", "-1", "a_b"):
        assert quote_value(value) == value


def test_values_that_could_be_misread_are_double_quoted() -> None:
    assert quote_value("") == '""'
    assert quote_value("a b") == '"a b"'
    assert quote_value('say "hi"') == '"say \\"hi\\""'
    assert quote_value("back\\slash") == '"back\\\\slash"'
    assert quote_value("#1") == '"#1"'
    assert quote_value("a,b") == '"a,b"'
    assert quote_value("{x}") == '"{x}"'
    assert quote_value("café") == '"café"'


def test_control_and_invisible_characters_are_escaped() -> None:
    assert quote_value("a\nb\tc\rd") == '"a\\nb\\tc\\rd"'
    assert quote_value("bell\x07") == '"bell\\u0007"'
    assert quote_value("zero\u200bwidth") == '"zero\\u200Bwidth"'
    assert quote_value("line\u2028sep") == '"line\\u2028sep"'


def test_a_value_that_is_not_text_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidCommand, match="U\\+D800, which is not a character") as refused:
        set_commands({f"{SIP}.AuthPassword": "Secret\ud800"})
    assert "Secret" not in str(refused.value)
    with pytest.raises(InvalidCommand, match=f"set {SIP}.AuthPassword: a value must be text"):
        set_commands({f"{SIP}.AuthPassword": 1234})  # type: ignore[dict-item]


# --- Commands ------------------------------------------------------------------------------------


def test_get_reads_an_object_with_its_dot_and_a_parameter_without() -> None:
    assert get_command("Device.DeviceInfo.").text == "Device.DeviceInfo.?"
    assert get_command("Device.DeviceInfo.SerialNumber").text == "Device.DeviceInfo.SerialNumber?"
    assert parse(get_command("Device.").text) == Get("Device")
    assert parse(get_command("Device.NAT.PortMapping.web.").text) == Get(
        "Device.NAT.PortMapping.web"
    )


def test_set_sends_one_command_per_object_in_the_order_given() -> None:
    commands = set_commands(
        {
            f"{FEATURES}.CallerIDEnable": "0",
            f"{SIP}.AuthPassword": "Line-Secret-1",
            f"{FEATURES}.CallWaitingEnable": "1",
        }
    )
    assert [parse(c.text) for c in commands] == [
        Set(FEATURES, (("CallerIDEnable", "0"), ("CallWaitingEnable", "1"))),
        Set(SIP, (("AuthPassword", "Line-Secret-1"),)),
    ]
    assert [c.path for c in commands] == [f"{FEATURES}.", f"{SIP}."]


def test_labels_name_paths_and_parameters_never_values() -> None:
    (command,) = set_commands({f"{SIP}.AuthPassword": "Line-Secret-1", f"{SIP}.URI": "sip:x@y"})
    assert command.label == f"set {SIP}.{{AuthPassword, URI}}"
    assert "Line-Secret-1" not in repr(command)
    assert "Line-Secret-1" not in str(command)
    added = add_command("Device.DynamicDNS.Client.", {"Password": "Dyn-Secret", "Username": "u"})
    assert added.label == "add Device.DynamicDNS.Client.{Password, Username}"
    assert "Dyn-Secret" not in repr(added)


def test_set_of_nothing_sends_nothing() -> None:
    assert set_commands({}) == []


def test_add_and_delete_read_back_as_the_box_parses_them() -> None:
    values = {"Alias": "web", "ExternalPort": "8080", "Description": "shop, front"}
    assert parse(add_command("Device.NAT.PortMapping.", values).text) == Add(
        "Device.NAT.PortMapping", tuple(values.items())
    )
    assert parse(add_command("Device.NAT.PortMapping.", {}).text) == Add("Device.NAT.PortMapping")
    assert parse(delete_command("Device.NAT.PortMapping.web.").text) == Delete(
        "Device.NAT.PortMapping.web"
    )


def test_commit_confirm_and_rollback_lines() -> None:
    assert parse(commit_command().text) == Commit()
    assert parse(commit_command(120).text) == Commit(120)
    assert commit_command(120).label == "commit confirm 120"
    assert (CONFIRM.text, ROLLBACK.text) == ("confirm", "rollback")


@pytest.mark.parametrize("seconds", [0, -5, True, 1.5])
def test_commit_confirm_needs_whole_seconds(seconds: int) -> None:
    with pytest.raises(InvalidCommand, match="confirm_s must be a whole number of seconds"):
        commit_command(seconds)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("Device.X.?", "'Device.X.?' is not a path"),
        ("Device.DeviceInfo.\nexit", "is not a path"),
        ("Device..X", "is not a path"),
        ("1Device.X", "is not a path"),
        ("Device.X Y", "is not a path"),
    ],
)
def test_a_malformed_path_is_refused_before_anything_is_sent(path: str, message: str) -> None:
    with pytest.raises(InvalidCommand, match=re.escape(message)):
        get_command(path)


def test_set_needs_parameter_paths() -> None:
    with pytest.raises(
        InvalidCommand, match=re.escape("set: 'Device.DeviceInfo.' names an object")
    ):
        set_commands({"Device.DeviceInfo.": "x"})
    with pytest.raises(InvalidCommand, match="set: 'Device' is not a parameter path"):
        set_commands({"Device": "x"})
    with pytest.raises(InvalidCommand, match=re.escape("'Device.X.1' is not a parameter path")):
        set_commands({"Device.X.1": "x"})
    with pytest.raises(InvalidCommand, match="'Bad Name' is not a parameter name"):
        add_command("Device.NAT.PortMapping.", {"Bad Name": "x"})


def test_a_command_longer_than_the_box_reads_is_refused() -> None:
    with pytest.raises(InvalidCommand, match=f"the box reads at most {MAX_LINE} per line") as err:
        set_commands({f"{SIP}.AuthUserName": "u" * MAX_LINE})
    assert "uuuu" not in str(err.value)


# --- Replies -------------------------------------------------------------------------------------


def test_the_prompt_is_learned_from_the_greeting() -> None:
    reader = ReplyReader()
    assert reader.feed("box-1: Livebox pro LBP1; 'help' lists the commands\n") == []
    assert reader.prompt is None
    assert reader.feed("box-1> ") == []
    assert reader.prompt == "box-1> "
    assert reader.greeting == ["box-1: Livebox pro LBP1; 'help' lists the commands"]


def test_replies_end_at_the_prompt_however_the_output_is_cut() -> None:
    output = "Device.A.B=1\nDevice.A.C=x=y\nbox-1> box-1> ERROR: no\nbox-1> "
    for size in (1, 2, 3, 7, len(output)):
        reader = ReplyReader("box-1> ")
        replies = []
        for start in range(0, len(output), size):
            replies += reader.feed(output[start : start + size])
        assert replies == [["Device.A.B=1", "Device.A.C=x=y"], [], ["ERROR: no"]]
        assert reader.pending == ""


def test_the_prompt_inside_a_value_does_not_end_the_reply() -> None:
    reader = ReplyReader("box-1> ")
    assert reader.feed("Device.A.Description=see box-1> here\n") == []
    assert reader.feed("box-1> ") == [["Device.A.Description=see box-1> here"]]


def test_terminal_line_ends_are_accepted() -> None:
    reader = ReplyReader()
    assert reader.feed("hello\r\nbox-1> ") == []
    assert (reader.prompt, reader.greeting) == ("box-1> ", ["hello"])
    assert reader.feed("Device.A.B=1\r\nbox-1> ") == [["Device.A.B=1"]]


def test_a_prompt_cannot_be_empty() -> None:
    with pytest.raises(ValueError, match="a prompt cannot be empty"):
        ReplyReader("")


def test_parameters_split_at_the_first_equal_sign() -> None:
    assert parameters_of(
        [
            "Device.DeviceInfo.ModelName=Livebox pro",
            "Device.NAT.PortMapping.1.Description=a=b==c",
            "Device.NAT.PortMapping.1.RemoteHost=",
            "Device.X.Y=  spaces kept  ",
        ]
    ) == {
        "Device.DeviceInfo.ModelName": "Livebox pro",
        "Device.NAT.PortMapping.1.Description": "a=b==c",
        "Device.NAT.PortMapping.1.RemoteHost": "",
        "Device.X.Y": "  spaces kept  ",
    }
    assert parameters_of([]) == {}


def test_a_line_that_is_not_a_parameter_is_unexpected() -> None:
    with pytest.raises(
        UnexpectedReply, match=re.escape("expected 'Path.Param=value', got 'hello world'")
    ):
        parameters_of(["hello world"])


def test_a_refusal_gives_the_box_reason() -> None:
    assert rejection(["ERROR: Device.X: no 'X' in Device."]) == "Device.X: no 'X' in Device."
    assert rejection(["Device.X.Y=ERROR: not one"]) is None
    assert rejection([]) is None


def test_add_commit_confirm_and_rollback_replies() -> None:
    assert added_instance(["Device.NAT.PortMapping.3."]) == "Device.NAT.PortMapping.3."
    assert checkpoint_of(["committed: checkpoint 12"]) == 12
    assert (
        checkpoint_of(
            [
                "committed: checkpoint 4; it reverts at 2026-11-30T08:01:00Z unless 'confirm' "
                "comes within 60 s"
            ]
        )
        == 4
    )
    assert rolled_back_checkpoint(["rolled back: checkpoint 5: rollback to checkpoint 3"]) == 5
    check_confirmed(["confirmed: checkpoint 4 is kept"])


def test_replies_of_another_shape_are_unexpected() -> None:
    with pytest.raises(UnexpectedReply, match="expected the new instance's path, got 'what'"):
        added_instance(["what"])
    with pytest.raises(UnexpectedReply, match="expected 'committed: checkpoint N', got nothing"):
        checkpoint_of([])
    with pytest.raises(
        UnexpectedReply, match=re.escape("expected 'rolled back: checkpoint N: ...'")
    ):
        rolled_back_checkpoint(["committed: checkpoint 2"])
    with pytest.raises(UnexpectedReply, match="expected 'confirmed: checkpoint N is kept'"):
        check_confirmed(["ok"])
