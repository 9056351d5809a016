"""`livebox offers` and `livebox rate` as a user runs them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from labs.cli import livebox


def run(*args: str) -> tuple[int, str]:
    # a wide terminal, so that rich does not wrap the names the tests look for
    result = CliRunner().invoke(livebox, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_offers_list_shows_the_three_plans() -> None:
    code, out = run("offers", "list")
    assert code == 0
    for name, price in [("initial", "59.00"), ("equilibre", "65.00"), ("intense", "75.00")]:
        assert f"optimale-pro-{name}" in out
        assert price in out


def test_offers_show_gives_the_terms() -> None:
    code, out = run("offers", "show", "optimale-pro-equilibre")
    assert code == 0
    for text in ["65.00 EUR HT/month", "60 min a month", "500 distinct", "3901", "0.09 EUR HT"]:
        assert text in out


def test_offers_show_unknown_name() -> None:
    code, out = run("offers", "show", "optimale-pro-max")
    assert code == 1
    assert "Error: no offer named 'optimale-pro-max'; known offers: optimale-pro-equilibre" in out


def test_rate_without_a_file_rates_the_shipped_sample_month() -> None:
    code, out = run("rate")
    assert code == 0
    assert "month.csv on Optimale pro équilibre" in out
    assert "Invoice 2026-10, account plomberie-martin" in out
    assert "total EUR HT" in out


def test_rate_json_has_calls_and_invoices_with_decimal_strings() -> None:
    code, out = run("rate", "--offer", "optimale-pro-initial", "--format", "json")
    assert code == 0
    document = json.loads(out)
    (invoice,) = document["invoices"]
    assert set(invoice) >= {
        "month",
        "subscription_eur",
        "rental_eur",
        "calls_eur",
        "fees_eur",
        "penalties_eur",
        "total_eur",
    }
    assert invoice["subscription_eur"] == "59.00"
    parts = sum(Decimal(invoice[k]) for k in ("subscription_eur", "rental_eur", "calls_eur"))
    assert abs(parts + Decimal(invoice["fees_eur"]) - Decimal(invoice["total_eur"])) < 0.01
    assert all({"cost_eur", "included", "rule"} <= set(c) for c in document["calls"])


def test_rate_csv_keeps_the_file_order(tmp_path: Path) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text(
        "start,line,caller,callee,duration_s\n"
        "2026-10-05T10:00,voip,0145000000,0612345678,60\n"
        "2026-10-05T09:00,voip,0145000000,0145000001,60\n"
    )
    code, out = run("rate", str(calls), "--offer", "optimale-pro-initial", "--format", "csv")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("cost_eur,included,priced,rule")
    assert ",0612345678,60," in lines[1]
    assert ",0.268000,False," in lines[1]


def test_rate_a_bad_row_names_file_line_and_field_and_prints_nothing_else(
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text(
        "start,line,caller,callee,duration_s\n"
        "2026-10-05T10:00,voip,0145000000,0612345678,60\n"
        "2026-10-05T11:00,voip,0145000000,not a number,60\n"
    )
    code, out = run("rate", str(calls))
    assert code == 1
    assert out.startswith(f"Error: {calls}: line 3: callee: ")
    assert "Invoice" not in out


def test_rate_a_missing_file() -> None:
    code, out = run("rate", "no-such-calls.csv")
    assert code == 2
    assert "'no-such-calls.csv' does not exist" in out


def test_rate_with_a_broken_zone_table(tmp_path: Path) -> None:
    zones = tmp_path / "zones.yaml"
    zones.write_text("note: mine\nregions: {DE: {zone: nowhere, mobile_agreement: true}}\n")
    code, out = run("rate", "--zones", str(zones))
    assert code == 1
    assert f"Error: {zones}: regions: no zone for" in out
