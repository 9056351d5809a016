"""Reading call files: every bad row is named by its line and field, and nothing is half-read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from profiles.model import LineName
from profiles.records import PARIS, CallRecord, ForwardReason, RecordError, read_records

HEADER = "start,line,caller,callee,duration_s\n"


def write(tmp_path: Path, text: str, name: str = "calls.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_become_records_in_paris_time(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2026-10-05T09:30:00,voip,0145000000,0612345678,61\n")
    ((line, record),) = read_records(path)
    assert line == 2
    assert record == CallRecord(
        start=dt.datetime(2026, 10, 5, 9, 30, tzinfo=PARIS),
        line=LineName.VOIP,
        caller="0145000000",
        callee="0612345678",
        duration_s=61,
    )


def test_json_lines_with_the_optional_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"start": "2026-10-05T07:30:00Z", "line": "classic", "caller": "0145000000",'
        ' "callee": "0612345678", "duration_s": 61, "account": "a1",'
        ' "forwarded_from": "0145000000", "forward_reason": "continuity"}\n\n',
        "calls.jsonl",
    )
    ((_, record),) = read_records(path)
    assert record.start == dt.datetime(2026, 10, 5, 9, 30, tzinfo=PARIS)
    assert record.forward_reason is ForwardReason.CONTINUITY
    assert record.account == "a1"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("yesterday,voip,1,0612345678,6", "line 3, field 'start': 'yesterday' is not an ISO 8601"),
        ("2026-10-05T09:30,fax,1,0612345678,6", "field 'line': 'fax' is not one of classic, voip"),
        ("2026-10-05T09:30,voip,1,0612345678,-6", "field 'duration_s': '-6' is not a whole"),
        ("2026-10-05T09:30,voip,1,0612345678,1.5", "field 'duration_s': '1.5' is not a whole"),
        ("2026-10-05T09:30,voip,1,,6", "line 3, field 'callee': missing value"),
        ("2026-10-05T09:30,voip,1,0612345678,6,7", "line 3: more values than header columns"),
    ],
)
def test_a_bad_row_names_its_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    good = "2026-10-05T09:00,voip,1,0612345678,6\n"
    with pytest.raises(RecordError) as error:
        read_records(write(tmp_path, HEADER + good + row + "\n"))
    assert message in str(error.value)


def test_missing_column_in_the_header(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r"line 1, field 'duration_s': the header row lacks"):
        read_records(write(tmp_path, "start,line,caller,callee\n"))


def test_unknown_column_is_refused(tmp_path: Path) -> None:
    text = "start,line,caller,callee,duration_s,cost\n2026-10-05T09:00,voip,1,2,6,0.1\n"
    with pytest.raises(RecordError, match=r"line 2, field 'cost': unknown field"):
        read_records(write(tmp_path, text))


def test_forwarded_leg_needs_both_fields(tmp_path: Path) -> None:
    text = "start,line,caller,callee,duration_s,forward_reason\n2026-10-05T09:00,voip,1,2,6,busy\n"
    with pytest.raises(RecordError, match=r"needs both forwarded_from and forward_reason"):
        read_records(write(tmp_path, text))


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    good = '{"start": "2026-10-05T09:00", "line": "voip", "caller": "1", "callee": "2",'
    path = write(tmp_path, good + ' "duration_s": 6}\n{oops\n', "c.jsonl")
    with pytest.raises(RecordError, match=r"line 2: not a JSON object"):
        read_records(path)
