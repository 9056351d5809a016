"""The management command language of the emulated box: every form, every error, any input."""

from __future__ import annotations

import operator
import pickle
import random
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.commands import (
    HELP,
    MAX_LINE,
    Add,
    Call,
    Checkpoints,
    Command,
    CommandError,
    Commit,
    Confirm,
    Delete,
    Diff,
    Exit,
    Get,
    Help,
    Nothing,
    Rollback,
    Set,
    format,
    help_text,
    parse,
)

TRUNK = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk"
LINE1 = f"{TRUNK}.Line.LINE1"
COMMAND_TYPES = (
    Get,
    Set,
    Add,
    Delete,
    Call,
    Diff,
    Commit,
    Confirm,
    Rollback,
    Checkpoints,
    Help,
    Exit,
    Nothing,
)
# Deterministic and leaves no example database behind.
FUZZ = settings(
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def error_of(line: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        parse(line)
    return caught.value


# Gets


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("Device.DeviceInfo.?", Get("Device.DeviceInfo")),
        ("Device.DeviceInfo?", Get("Device.DeviceInfo")),
        ("Device.DeviceInfo.?0", Get("Device.DeviceInfo", 0)),
        ("Device.DeviceInfo?0", Get("Device.DeviceInfo", 0)),
        ("Device.?2", Get("Device", 2)),
        ("Device.?99", Get("Device", 99)),
        ("Device.?007", Get("Device", 7)),
        ("Device.DeviceInfo.SoftwareVersion?", Get("Device.DeviceInfo.SoftwareVersion")),
        ("Device.DeviceInfo.SoftwareVersion.?", Get("Device.DeviceInfo.SoftwareVersion")),
        ("Device.DeviceInfo.SoftwareVersion?0", Get("Device.DeviceInfo.SoftwareVersion", 0)),
        (f"{LINE1}.CallingFeatures.?", Get(f"{LINE1}.CallingFeatures")),
        ("Device.NAT.PortMapping.1.?", Get("Device.NAT.PortMapping.1")),
        ("Device.X_ORANGE-COM_Karma.?", Get("Device.X_ORANGE-COM_Karma")),
        ("  \tDevice.DeviceInfo.?  \t", Get("Device.DeviceInfo")),
        ("Device.DeviceInfo.?\n", Get("Device.DeviceInfo")),
        ("Device.DeviceInfo.?\r\n", Get("Device.DeviceInfo")),
    ],
)
def test_get_reads_object_and_parameter_paths_with_an_optional_depth(
    line: str, command: Get
) -> None:
    assert parse(line) == command


# Sets


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("Device.X.Enable=1", Set("Device.X", (("Enable", "1"),))),
        (f"{LINE1}.Enable=true", Set(LINE1, (("Enable", "true"),))),
        ("Device.X.Enable = 1", Set("Device.X", (("Enable", "1"),))),
        ("Device.X.Enable\t=\t1\t", Set("Device.X", (("Enable", "1"),))),
        (
            "Device.X.Description=Cabinet 2, floor 1 }) ",
            Set("Device.X", (("Description", "Cabinet 2, floor 1 })"),)),
        ),
        ("Device.X.Password=abc#1", Set("Device.X", (("Password", "abc#1"),))),
        ('Device.X.Name="  padded  "', Set("Device.X", (("Name", "  padded  "),))),
        (
            'Device.X.Name="say \\"hi\\" \\\\ bye\\nnext\\r\\ttab"',
            Set("Device.X", (("Name", 'say "hi" \\ bye\nnext\r\ttab'),)),
        ),
        ('Device.X.Name="caf\\u00e9 \\U0001F600"', Set("Device.X", (("Name", "café 😀"),))),
        ("Device.X.Name='C:\\no \"escapes\"'", Set("Device.X", (("Name", 'C:\\no "escapes"'),))),
        ('Device.X.Name=""', Set("Device.X", (("Name", ""),))),
        ("Device.X.Name=''", Set("Device.X", (("Name", ""),))),
        ("Device.X.Name=été", Set("Device.X", (("Name", "été"),))),
        ("Device.X.Name=a\"b'c", Set("Device.X", (("Name", "a\"b'c"),))),
        (
            "Device.Firewall.Service.46."
            '{DestPort=22, Enable=true, Interface="Device.IP.Interface.2."}',
            Set(
                "Device.Firewall.Service.46",
                (("DestPort", "22"), ("Enable", "true"), ("Interface", "Device.IP.Interface.2.")),
            ),
        ),
        (
            "Device.X.{ A = a b ,B='x,}', C=\"y)\" }",
            Set("Device.X", (("A", "a b"), ("B", "x,}"), ("C", "y)"))),
        ),
        ("Device.{Enable=1}", Set("Device", (("Enable", "1"),))),
        ('Device.X.{Name=""}', Set("Device.X", (("Name", ""),))),
    ],
)
def test_set_reads_one_parameter_or_several_of_one_object(line: str, command: Set) -> None:
    assert parse(line) == command


# Adds and deletes


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("Device.NAT.PortMapping.+", Add("Device.NAT.PortMapping")),
        ("Device.NAT.PortMapping.+{}", Add("Device.NAT.PortMapping")),
        ("Device.NAT.PortMapping.+ { }", Add("Device.NAT.PortMapping")),
        ('Device.X.+{Alias="a"}', Add("Device.X", (("Alias", "a"),))),
        (
            'Device.DynamicDNS.Client.+ {Alias="MyDynDNS", Enable=true}',
            Add("Device.DynamicDNS.Client", (("Alias", "MyDynDNS"), ("Enable", "true"))),
        ),
    ],
)
def test_add_reads_an_instance_with_or_without_values(line: str, command: Add) -> None:
    assert parse(line) == command


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("Device.NAT.PortMapping.1.-", Delete("Device.NAT.PortMapping.1")),
        (f"{TRUNK}.-", Delete(TRUNK)),
        ("Device.X.- ", Delete("Device.X")),
    ],
)
def test_delete_reads_the_instance_path(line: str, command: Delete) -> None:
    assert parse(line) == command


# Calls


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("Device.DSL.Line.1.Retrain()", Call("Device.DSL.Line.1", "Retrain")),
        ("Device.X.Reboot( )", Call("Device.X", "Reboot")),
        ("Device.X._get()", Call("Device.X", "_get")),
        (
            'Device.X.Update(host="192.168.1.100",port=1970,update=yes)',
            Call(
                "Device.X",
                "Update",
                (("host", "192.168.1.100"), ("port", "1970"), ("update", "yes")),
            ),
        ),
        (
            'Device.X.Install( URL = "docker://a/b:v1" , Password = "<&Dm\\\\E5" )',
            Call("Device.X", "Install", (("URL", "docker://a/b:v1"), ("Password", "<&Dm\\E5"))),
        ),
    ],
)
def test_call_reads_the_method_and_its_named_arguments(line: str, command: Call) -> None:
    assert parse(line) == command


# Transaction words, help, exit, no-ops


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("diff", Diff()),
        ("commit", Commit()),
        ("commit confirm 120", Commit(120)),
        ("  commit \t confirm   1  ", Commit(1)),
        ("commit confirm 86400", Commit(86400)),
        ("commit confirm 0030", Commit(30)),
        ("confirm", Confirm()),
        ("rollback", Rollback()),
        ("rollback 0", Rollback(0)),
        ("rollback 3", Rollback(3)),
        ("rollback 999999", Rollback(999999)),
        ("checkpoints", Checkpoints()),
        ("help", Help()),
        ("help commit", Help("commit")),
        ("help COMMIT", Help("commit")),
        ("help ?", Help("get")),
        ("help +", Help("add")),
        ("help -", Help("delete")),
        ("help =", Help("set")),
        ("help ()", Help("call")),
        ("help quit", Help("exit")),
        ("help paths", Help("paths")),
        ("exit", Exit()),
        ("quit ", Exit()),
        ("", Nothing()),
        ("   \t ", Nothing()),
        ("\n", Nothing()),
        ("# a comment", Nothing()),
        ("   # Device.X.Enable=1", Nothing()),
        ("#", Nothing()),
    ],
)
def test_words_and_blank_lines(line: str, command: Command) -> None:
    assert parse(line) == command


# Errors: every one with its column and message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # Paths
        ("1Device.?", "column 1: expected a command or a path starting with a letter, found '1'"),
        ("?", "column 1: expected a command or a path starting with a letter, found '?'"),
        ("Device..X.?", "column 8: expected a name, '?', '+', '-' or '{' after '.', found '.'"),
        ("Device.", "column 8: expected a name, '?', '+', '-' or '{' after '.', found end of line"),
        ("Device.X", "column 9: expected '.', '?', '=' or '(' after 'Device.X', found end of line"),
        ("Device.X*.?", "column 9: expected '.', '?', '=' or '(' after 'Device.X', found '*'"),
        (
            "Device.[Alias=='a'].?",
            "column 8: expected a name, '?', '+', '-' or '{' after '.', found '['",
        ),
        ("Devicé.?", "column 6: expected '.', '?', '=' or '(' after 'Devic', found 'é'"),
        ("Device.X ?", "column 10: expected '=' after 'Device.X', found '?'"),
        # Words
        (
            "foo",
            "column 1: unknown command 'foo'; expected one of diff, commit, confirm, rollback,"
            " checkpoints, help, exit, quit or a path such as Device.DeviceInfo.?",
        ),
        (
            "show Device.?",
            "column 1: unknown command 'show'; expected one of diff, commit, confirm, rollback,"
            " checkpoints, help, exit, quit or a path such as Device.DeviceInfo.?",
        ),
        ("Commit", "column 1: unknown command 'Commit'; commands are lowercase: 'commit'"),
        ("diff now", "column 6: unexpected 'n' after 'diff'; expected end of line"),
        ("exit 0", "column 6: unexpected '0' after 'exit'; expected end of line"),
        ("checkpoints all", "column 13: unexpected 'a' after 'checkpoints'; expected end of line"),
        ("confirm 30", "column 9: unexpected '3' after 'confirm'; expected end of line"),
        ("commit now", "column 8: expected 'confirm' or end of line after 'commit', found 'now'"),
        (
            "commit confirm5",
            "column 8: expected 'confirm' or end of line after 'commit', found 'confirm5'",
        ),
        (
            "commit confirm",
            "column 15: expected a number of seconds (1 to 86400) after 'confirm',"
            " found end of line",
        ),
        (
            "commit confirm 0",
            "column 16: expected a number of seconds (1 to 86400) after 'confirm', found '0':"
            " out of range",
        ),
        (
            "commit confirm -5",
            "column 16: expected a number of seconds (1 to 86400) after 'confirm', found '-5'",
        ),
        (
            "commit confirm 2.5",
            "column 16: expected a number of seconds (1 to 86400) after 'confirm', found '2.5'",
        ),
        (
            "commit confirm 86401",
            "column 16: expected a number of seconds (1 to 86400) after 'confirm', found '86401':"
            " out of range",
        ),
        (
            "commit confirm 99999999999999",
            "column 16: expected a number of seconds (1 to 86400) after 'confirm',"
            " found '99999999999999': out of range",
        ),
        (
            "commit confirm 30 s",
            "column 19: unexpected 's' after 'commit confirm 30'; expected end of line",
        ),
        (
            "rollback -1",
            "column 10: expected a checkpoint number (0 to 999999) after 'rollback', found '-1'",
        ),
        (
            "rollback last",
            "column 10: expected a checkpoint number (0 to 999999) after 'rollback', found 'last'",
        ),
        (
            "rollback 1000000",
            "column 10: expected a checkpoint number (0 to 999999) after 'rollback',"
            " found '1000000': out of range",
        ),
        (
            "rollback \uff13",  # a fullwidth 3
            "column 10: expected a checkpoint number (0 to 999999) after 'rollback',"
            " found '\uff13'",
        ),
        (
            "help me",
            "column 6: no help on 'me'; topics: get, set, add, delete, call, diff, commit,"
            " confirm, rollback, checkpoints, help, exit, paths, values",
        ),
        (
            "help overview",
            "column 6: no help on 'overview'; topics: get, set, add, delete, call, diff, commit,"
            " confirm, rollback, checkpoints, help, exit, paths, values",
        ),
        (
            "help commit confirm",
            "column 13: unexpected 'c' after 'help commit'; expected end of line",
        ),
        # Gets
        ("Device.?x", "column 9: unexpected 'x' after 'Device.?'; expected end of line"),
        (
            "Device.?-1",
            "column 9: a depth is 0 or more; leave it out to get everything below the object",
        ),
        ("Device.?100", "column 9: depth '100' is too deep (at most 99)"),
        (
            "Device.?" + "9" * 4000,
            "column 9: depth '999999999999999999999...' is too deep (at most 99)",
        ),
        ("Device.? 2", "column 10: unexpected '2' after 'Device.?'; expected end of line"),
        (
            "Device.DeviceInfo.? # all of it",
            "column 21: unexpected '#' after 'Device.DeviceInfo.?'; a comment takes a whole line",
        ),
        # Sets
        (
            "Enable=1",
            "column 1: expected an object path before parameter 'Enable', as in Device.X.Enable=1",
        ),
        (
            "Enable = 1",
            "column 1: expected an object path before parameter 'Enable', as in Device.X.Enable=1",
        ),
        (
            "Device.X.1=3",
            "column 10: expected a parameter name starting with a letter or '_', found '1'",
        ),
        (
            "Device.X.Enable=",
            "column 17: expected a value after '='; write \"\" for an empty value",
        ),
        (
            "Device.X.Enable=  ",
            "column 19: expected a value after '='; write \"\" for an empty value",
        ),
        (
            'Device.X.Name="abc',
            'column 15: unterminated double-quoted value: no closing "',
        ),
        ('Device.X.Name="abc\\', 'column 15: unterminated double-quoted value: no closing "'),
        ('Device.X.Name="abc\\"', 'column 15: unterminated double-quoted value: no closing "'),
        ("Device.X.Name='abc", "column 15: unterminated single-quoted value: no closing '"),
        (
            'Device.X.Name="a\\qb"',
            "column 17: unknown escape '\\q';"
            ' use \\\\, \\", \\n, \\r, \\t, \\uXXXX or \\UXXXXXXXX',
        ),
        ('Device.X.Name="\\u12"', "column 16: expected 4 hex digits after '\\u'"),
        ('Device.X.Name="\\u12G4"', "column 16: expected 4 hex digits after '\\u'"),
        ('Device.X.Name="\\U0001F60"', "column 16: expected 8 hex digits after '\\U'"),
        ('Device.X.Name="\\uD800"', "column 16: '\\uD800' is not a character"),
        ('Device.X.Name="\\U00110000"', "column 16: '\\U00110000' is not a character"),
        (
            'Device.X.Name="a" b',
            "column 19: unexpected 'b' after 'Device.X.Name=\"a\"'; expected end of line",
        ),
        # Sets of several parameters
        (
            "Device.X.{Enable 1}",
            "column 18: expected '=' after parameter name 'Enable', found '1'",
        ),
        (
            "Device.X.{Enable}",
            "column 17: expected '=' after parameter name 'Enable', found '}'",
        ),
        ("Device.X.{}", "column 10: expected at least one parameter between '{' and '}'"),
        ("Device.X.{A=1, A=2}", "column 16: parameter 'A' is given twice"),
        ("Device.X.{A=1,}", "column 15: expected a parameter name, found '}'"),
        ("Device.X.{,A=1}", "column 11: expected a parameter name, found ','"),
        ("Device.X.{1=2}", "column 11: expected a parameter name, found '1'"),
        ("Device.X.{A=}", "column 13: expected a value after '='; write \"\" for an empty value"),
        (
            "Device.X.{A= , B=1}",
            "column 14: expected a value after '='; write \"\" for an empty value",
        ),
        (
            "Device.X.{A=1",
            "column 14: expected ',' or '}', found end of line ('{' at column 10 is not closed)",
        ),
        (
            "Device.X.{",
            "column 11: expected a parameter name, found end of line"
            " ('{' at column 10 is not closed)",
        ),
        (
            "Device.X.{A=1)",
            "column 14: expected ',' or '}' after the value of 'A', found ')'",
        ),
        (
            'Device.X.{A="x" y}',
            "column 17: expected ',' or '}' after the value of 'A', found 'y'",
        ),
        (
            "Device.X.{A=1} x",
            "column 16: unexpected 'x' after 'Device.X.{A=1}'; expected end of line",
        ),
        # Adds and deletes
        ("Device.X.+x", "column 11: expected '{' or end of line after '+', found 'x'"),
        (
            "Device.X.+{A=1}}",
            "column 16: unexpected '}' after 'Device.X.+{A=1}'; expected end of line",
        ),
        ("Device.X.+{A=1, A=2}", "column 17: parameter 'A' is given twice"),
        ("Device.X.-a", "column 11: unexpected 'a' after 'Device.X.-'; expected end of line"),
        ("Device.X.--", "column 11: unexpected '-' after 'Device.X.-'; expected end of line"),
        # Calls
        (
            "Reboot()",
            "column 1: expected an object path before method 'Reboot', as in Device.Reboot()",
        ),
        (
            "Device.X.1()",
            "column 10: expected a method name starting with a letter or '_', found '1'",
        ),
        (
            "Device.X.M(",
            "column 12: expected an argument name, found end of line"
            " ('(' at column 11 is not closed)",
        ),
        ("Device.X.M(a)", "column 13: expected '=' after argument name 'a', found ')'"),
        ("Device.X.M(a=1, a=2)", "column 17: argument 'a' is given twice"),
        ("Device.X.M(a=1}", "column 15: expected ',' or ')' after the value of 'a', found '}'"),
        (
            "Device.X.M() now",
            "column 14: unexpected 'n' after 'Device.X.M()'; expected end of line",
        ),
        # Characters
        (
            "Device.X.Enable=1\x00",
            "column 18: control character U+0000 not allowed;"
            " in a double-quoted value write \\n, \\r, \\t or \\uXXXX",
        ),
        (
            "Device.X.Name=a\nb",
            "column 16: control character U+000A not allowed;"
            " in a double-quoted value write \\n, \\r, \\t or \\uXXXX",
        ),
        (
            "\x1b[31mDevice.?",
            "column 1: control character U+001B not allowed;"
            " in a double-quoted value write \\n, \\r, \\t or \\uXXXX",
        ),
        ("Device.X.Name=\udcff", "column 15: invalid character U+DCFF: not text"),
    ],
)
def test_each_error_names_its_column_and_what_was_expected(line: str, message: str) -> None:
    error = error_of(line)
    assert str(error) == message
    assert error.column == int(message.split(":")[0].removeprefix("column "))


def test_a_line_of_4096_characters_is_read_and_a_longer_one_refused() -> None:
    value = "x" * (MAX_LINE - len("Device.X.Name="))
    assert parse(f"Device.X.Name={value}") == Set("Device.X", (("Name", value),))
    error = error_of(f"Device.X.Name={value}y")
    assert error.column == MAX_LINE + 1
    assert str(error) == "column 4097: line too long: 4097 characters, at most 4096"


def test_a_huge_line_is_refused_before_it_is_read() -> None:
    assert error_of("Device.?" + "(" * 10_000_000).column == MAX_LINE + 1


def test_text_that_is_not_a_string_is_refused() -> None:
    error = error_of(b"Device.?")  # type: ignore[arg-type]
    assert str(error) == "column 1: expected a line of text, got bytes"


def test_command_error_is_a_value_error_that_survives_pickling() -> None:
    error = error_of("Device.X.{A=1, A=2}")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.column, copy.reason, str(copy)) == (error.column, error.reason, str(error))


# Help


def test_help_has_an_overview_and_a_text_for_every_topic_it_lists() -> None:
    assert help_text(None) == HELP["overview"]
    for word in ("diff", "commit", "confirm", "rollback", "checkpoints", "help", "exit"):
        assert word in HELP
        assert parse(f"help {word}") == Help(word)
    for topic in HELP:
        assert HELP[topic].strip()
        if topic != "overview":
            assert topic in HELP["overview"]
            assert help_text(topic) == HELP[topic]


def test_every_example_in_the_help_parses() -> None:
    examples = [
        text.strip()
        for body in HELP.values()
        for text in body.splitlines()
        if text.startswith("  ") and text.strip().startswith("Device.")
    ]
    assert len(examples) >= 8
    for example in examples:
        assert not isinstance(parse(example), Nothing)


# format: what diff echoes


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (Get("Device.DeviceInfo"), "Device.DeviceInfo.?"),
        (Get("Device.DeviceInfo", 0), "Device.DeviceInfo.?0"),
        (Set("Device.X", (("Enable", "1"),)), "Device.X.Enable=1"),
        (Set("Device.X", (("Name", "a b"),)), 'Device.X.Name="a b"'),
        (Set("Device.X", (("Name", ""),)), 'Device.X.Name=""'),
        (Set("Device.X", (("A", "1"), ("B", 'say "hi"'))), 'Device.X.{A=1, B="say \\"hi\\""}'),
        (Set("Device.X", (("Server", "sip.example:5060"),)), "Device.X.Server=sip.example:5060"),
        (Set("Device.X", (("Name", "a\\b\n\t"),)), 'Device.X.Name="a\\\\b\\n\\t"'),
        (Set("Device.X", (("Name", "\x00\x1b[2J"),)), 'Device.X.Name="\\u0000\\u001B[2J"'),
        # A right-to-left override would make the echoed line lie about what it sets.
        (Set("Device.X", (("Name", "abc\u202edef"),)), 'Device.X.Name="abc\\u202Edef"'),
        (Set("Device.X", (("Name", "\U000e0041"),)), 'Device.X.Name="\\U000E0041"'),
        (Set("Device.X", (("Name", "café"),)), 'Device.X.Name="café"'),
        (Add("Device.NAT.PortMapping"), "Device.NAT.PortMapping.+"),
        (Add("Device.X", (("Alias", "a"), ("Port", "22"))), "Device.X.+{Alias=a, Port=22}"),
        (Delete("Device.X.1"), "Device.X.1.-"),
        (Call("Device.X", "Reboot"), "Device.X.Reboot()"),
        (Call("Device.X", "M", (("a", "1"), ("b", "x y"))), 'Device.X.M(a=1, b="x y")'),
        (Diff(), "diff"),
        (Commit(), "commit"),
        (Commit(30), "commit confirm 30"),
        (Confirm(), "confirm"),
        (Rollback(), "rollback"),
        (Rollback(0), "rollback 0"),
        (Checkpoints(), "checkpoints"),
        (Help(), "help"),
        (Help("commit"), "help commit"),
        (Exit(), "exit"),
        (Nothing(), ""),
    ],
)
def test_format_writes_the_line_that_reads_back_as_the_command(command: Command, text: str) -> None:
    assert format(command) == text
    assert parse(text) == command


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (Set("Device.X", ()), "expected at least one parameter"),
        (Get("Device X"), "unknown command 'Device'"),
        (Get("Device.X."), "expected a name"),
        (Get("Device", 100), "too deep"),
        (Set("Device.X", (("A", "1"), ("A", "2"))), "given twice"),
        (Set("Device.X", (("Name", "\ud800"),)), "is not a character"),
        (Call("Device.X", "1st"), "expected a method name starting with a letter"),
        (Commit(0), "out of range"),
        (Rollback(-1), "found '-1'"),
        (Help("overview"), "no help on 'overview'"),
        (Delete("Device.-X"), "expected end of line"),
    ],
)
def test_format_refuses_a_command_no_line_can_express(command: Command, why: str) -> None:
    with pytest.raises(ValueError, match="cannot be written as a command") as caught:
        format(command)
    assert why in str(caught.value)


def test_format_refuses_a_set_of_one_parameter_named_like_an_instance() -> None:
    with pytest.raises(ValueError, match=r"reads as|starting with a letter"):
        format(Set("Device.X", (("1", "v"),)))


# Properties: whatever comes in, parse answers a command or a CommandError


VALID_LINES = [
    "Device.DeviceInfo.?",
    "Device.DeviceInfo?2",
    f"{LINE1}.CallingFeatures.CallForwardUnconditionalEnable?",
    f"{LINE1}.CallingFeatures.CallForwardUnconditionalNumber=+33612345678",
    'Device.X.{A=1, B="x\\"y", C=\'z\'}',
    'Device.NAT.PortMapping.+{Alias="ssh", ExternalPort=2222}',
    "Device.NAT.PortMapping.1.-",
    'Device.X.Install(URL="docker://a", Retries=3)',
    'Device.X.Name="caf\\u00e9 \\n"',
    "commit confirm 120",
    "rollback 3",
    "help commit",
    "# comment",
    "checkpoints",
    "diff",
    "exit",
]
SYNTAX = "?.=+-{}(),\"'\\ #\t0123456789uUaZ_"
# Any code point, lone surrogates included: undecodable bytes arrive as those.
any_char = st.one_of(st.sampled_from(SYNTAX), st.characters(exclude_categories=[]))
mutation = st.tuples(
    st.sampled_from(["insert", "delete", "replace"]), st.integers(0, 200), any_char
)


def mutate(line: str, kind: str, index: int, char: str) -> str:
    at = index % (len(line) + 1)
    if kind == "insert":
        return line[:at] + char + line[at:]
    if kind == "delete":
        return line[:at] + line[at + 1 :]
    return line[:at] + char + line[at + 1 :]


@st.composite
def mutated_lines(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(VALID_LINES))
    for kind, index, char in draw(st.lists(mutation, min_size=1, max_size=5)):
        line = mutate(line, kind, index, char)
    return line


def assert_parses_or_refuses(line: str) -> None:
    outcome: Command | CommandError
    try:
        outcome = parse(line)
    except CommandError as error:
        outcome = error
    if isinstance(outcome, CommandError):
        assert 1 <= outcome.column <= max(len(line), MAX_LINE) + 1
        assert str(outcome).startswith(f"column {outcome.column}: ")
        return
    command = outcome
    assert isinstance(command, COMMAND_TYPES)
    # What parses can be echoed, and the echo reads back the same.
    assert parse(format(command)) == command


@settings(FUZZ, max_examples=400)
@given(mutated_lines())
def test_mutated_command_lines_parse_or_raise_command_error(line: str) -> None:
    assert_parses_or_refuses(line)


@settings(FUZZ, max_examples=500)
@given(st.text(alphabet=any_char, max_size=80))
def test_random_text_parses_or_raises_command_error(line: str) -> None:
    assert_parses_or_refuses(line)


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=80))
def test_binary_garbage_parses_or_raises_command_error(garbage: bytes) -> None:
    assert_parses_or_refuses(garbage.decode("utf-8", errors="surrogateescape"))
    assert_parses_or_refuses(garbage.decode("latin-1"))


def test_twenty_thousand_seeded_mutations_parse_or_raise_command_error() -> None:
    # Hypothesis spends milliseconds per example; a seeded generator covers more ground.
    chance = random.Random(20130822)
    kinds = ["insert", "delete", "replace"]
    for _ in range(20_000):
        line = chance.choice(VALID_LINES)
        for _ in range(chance.randint(1, 6)):
            char = (
                chance.choice(SYNTAX) if chance.random() < 0.7 else chr(chance.randrange(0x110000))
            )
            line = mutate(line, chance.choice(kinds), chance.randrange(200), char)
        assert_parses_or_refuses(line)


LETTERS = string.ascii_letters
NAME_CHARS = string.ascii_letters + string.digits + "_-"
segment = st.builds(
    operator.add, st.sampled_from(LETTERS + string.digits + "_"), st.text(NAME_CHARS, max_size=6)
)
member = st.builds(operator.add, st.sampled_from(LETTERS + "_"), st.text(NAME_CHARS, max_size=6))
first = st.builds(operator.add, st.sampled_from(LETTERS), st.text(NAME_CHARS, max_size=6))
paths = st.builds(lambda head, rest: ".".join([head, *rest]), first, st.lists(segment, max_size=4))
values = st.text(max_size=12)
pairs = st.dictionaries(member, values, max_size=4).map(lambda found: tuple(found.items()))
commands = st.one_of(
    st.builds(Get, paths, st.none() | st.integers(0, 99)),
    st.builds(Set, paths, pairs.filter(bool)),
    st.builds(Add, paths, pairs),
    st.builds(Delete, paths),
    st.builds(Call, paths, member, pairs),
    st.sampled_from([Diff(), Commit(), Confirm(), Rollback(), Checkpoints(), Help(), Exit()]),
    st.builds(Commit, st.integers(1, 86_400)),
    st.builds(Rollback, st.integers(0, 999_999)),
    st.builds(Help, st.sampled_from(sorted(set(HELP) - {"overview"}))),
    st.just(Nothing()),
)


@settings(FUZZ, max_examples=300)
@given(commands)
def test_every_command_round_trips_through_format(command: Command) -> None:
    assert parse(format(command)) == command
