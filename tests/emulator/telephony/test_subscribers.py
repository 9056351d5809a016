"""External subscribers for `livebox emulate`: on the command line or in a file, checked first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from emulator.telephony.subscribers import load_subscribers, parse_subscriber
from labs.cli import livebox
from profiles.catalogue import Catalogue, DataFileError
from profiles.numbering import NumberingPlan


@pytest.fixture(scope="module")
def plan() -> NumberingPlan:
    return Catalogue.load().numbering_plan()


def test_a_subscriber_on_the_command_line_is_number_and_password(plan: NumberingPlan) -> None:
    subscriber = parse_subscriber("06 12 34 56 78:s3cret", plan)
    assert (subscriber.number, subscriber.user, subscriber.password) == (
        "+33612345678",
        "+33612345678",
        "s3cret",
    )
    assert "s3cret" not in repr(subscriber)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+33612345678", "expected NUMBER:PASSWORD"),
        ("+33612345678:", "expected NUMBER:PASSWORD"),
        ("hello:pw", "'hello' is not a phone number"),
    ],
)
def test_a_bad_subscriber_argument_says_what_is_wrong(
    plan: NumberingPlan, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_subscriber(text, plan)


def test_a_subscribers_file_gives_numbers_in_e164(tmp_path: Path, plan: NumberingPlan) -> None:
    path = tmp_path / "subscribers.yaml"
    path.write_text(
        "subscribers:\n"
        "  - {number: '0612345678', password: one}\n"
        "  - {number: '+12125550123', password: two, user: nyc, display: New York}\n"
    )
    first, second = load_subscribers(path, plan)
    assert (first.number, first.user) == ("+33612345678", "+33612345678")
    assert (second.number, second.user, second.display) == ("+12125550123", "nyc", "New York")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("subscribers:\n  - {number: '0612345678'}\n", "subscribers.0.password"),
        ("subscribers:\n  - {number: nope, password: x}\n", "subscribers.0.number"),
        ("subscribers:\n  - {number: '0612345678', password: x, colour: red}\n", "colour"),
        (
            "subscribers:\n  - {number: '0612345678', password: x}\n"
            "  - {number: '+33612345678', password: y}\n",
            "subscribers.1.number",
        ),
        ("subscribers: [\n", "not valid YAML: line 2"),
    ],
)
def test_a_bad_subscribers_file_names_the_file_and_the_field(
    tmp_path: Path, plan: NumberingPlan, text: str, where: str
) -> None:
    path = tmp_path / "subscribers.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError) as caught:
        load_subscribers(path, plan)
    assert str(path) in str(caught.value)
    assert where in str(caught.value)


def test_livebox_emulate_refuses_a_bad_subscriber_before_serving_anything() -> None:
    result = CliRunner().invoke(livebox, ["emulate", "--subscriber", "+33612345678"])
    assert result.exit_code == 2
    assert "--subscriber" in result.output
    assert "expected NUMBER:PASSWORD" in result.output
    assert "ready" not in result.output


def test_livebox_emulate_refuses_subscribers_without_telephony() -> None:
    result = CliRunner().invoke(
        livebox, ["emulate", "--no-telephony", "--subscriber", "+33612345678:pw"]
    )
    assert result.exit_code == 1
    assert "external subscribers need telephony" in result.output
