"""The `livebox offers` and `livebox rate` commands."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from profiles.catalogue import DATA_DIR, Catalogue, DataFileError, UnknownOfferError
from profiles.model import Offer
from profiles.rating import Invoice, PricedCall, Rater, RatingError
from profiles.records import FIELDS, CallRecord, RecordError, read_records

SAMPLE_MONTH = DATA_DIR / "samples" / "month.csv"
DEFAULT_OFFER = "optimale-pro-equilibre"

zones_option = click.option(
    "--zones",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your own country-to-zone table instead of the shipped one (an assumption).",
)


def load_catalogue(zones: Path | None) -> Catalogue:
    try:
        return Catalogue.load(zones=zones)
    except DataFileError as exc:
        raise click.ClickException(str(exc)) from None


def pick_offer(catalogue: Catalogue, name: str) -> Offer:
    try:
        return catalogue.offer(name)
    except UnknownOfferError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("offers")
def offers() -> None:
    """The Optimale pro plans and their terms."""


@offers.command("list")
@zones_option
def offers_list(zones: Path | None) -> None:
    """List the plans with their monthly prices."""
    catalogue = load_catalogue(zones)
    table = Table(title=f"Offers (price annex {catalogue.annex.effective})")
    for column in ("name", "title", "EUR HT/month", "mobiles"):
        table.add_column(column)
    for offer in catalogue.offers.values():
        table.add_row(offer.name, offer.title, str(offer.monthly_price_eur), _mobiles(offer))
    Console().print(table)


@offers.command("show")
@click.argument("name")
@zones_option
def offers_show(name: str, zones: Path | None) -> None:
    """Show one plan: prices, lines, calls, internet, options, support and guarantees."""
    catalogue = load_catalogue(zones)
    offer = pick_offer(catalogue, name)
    annex = catalogue.annex
    console = Console()
    console.print(f"[bold]{offer.title}[/bold] ({offer.name})")
    rows: list[tuple[str, str]] = [
        ("subscription", f"{offer.monthly_price_eur} EUR HT/month"),
        ("rental", f"{offer.rental.equipment}, {offer.rental.monthly_price_eur} EUR HT/month"),
        ("commitment", f"{offer.commitment_months} months"),
    ]
    rows += [(f"{line} line", ", ".join(s.services)) for line, s in offer.lines.items()]
    rows += [
        ("unlimited", "metropolitan fixed, standard n° IP, fixed of the included destinations"),
        ("mobiles", _mobiles(offer)),
        ("included destinations", str(len(catalogue.destinations.destinations))),
        ("cap", f"{offer.calls.max_correspondents} distinct correspondents a month"),
        ("call cut", f"after {offer.calls.max_call_seconds // 3600} h"),
    ]
    net = offer.internet
    rows += [
        ("ADSL", f"up to {net.adsl.max_down_kbps} / {net.adsl.max_up_kbps} kb/s"),
        ("VDSL", f"up to {net.vdsl.max_down_kbps} / {net.vdsl.max_up_kbps} kb/s"),
        ("floor", f"{net.min_down_kbps} kb/s; {net.tv_dedicated_kbps} kb/s when TV is used"),
        ("fixed IP", net.fixed_ip),
        ("TV", f"decoder deposit {offer.options.tv.decoder_deposit_eur} EUR"),
        ("mobile internet", f"first {offer.options.mobile_internet.offered_tier_mb} MB offered"),
    ]
    for number, line in annex.support.items():
        free = not line.connection_eur and not line.per_minute_eur
        price = (
            "free"
            if free
            else f"{line.connection_eur} EUR per call + {line.per_minute_eur} EUR/min"
        )
        rows.append((f"support {number}", f"{line.label}: {price}"))
    for name_, guarantee in offer.guarantees.model_dump().items():
        rows.append(
            (
                f"guarantee: {name_}",
                f"{guarantee['business_hours']} business hours ({', '.join(guarantee['covers'])}); "
                f"penalty {guarantee['penalty_months']} month of subscription",
            )
        )
    for key, fee in annex.fees.items():
        rows.append((f"fee: {key}", f"{fee.eur} EUR HT"))
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


@click.command("rate")
@click.argument(
    "calls", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--offer",
    "offer_name",
    default=DEFAULT_OFFER,
    show_default=True,
    help="The plan the account is on.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@zones_option
def rate(calls: Path | None, offer_name: str, output: str, zones: Path | None) -> None:
    """Rate a file of calls (CSV with a header row, or JSON lines) and bill each month.

    Without CALLS, rates the sample month shipped with livebox-lab. Each row has start
    (ISO 8601; Paris time when no offset), line (classic|voip), caller, callee, duration_s,
    and optionally account, disposition, forwarded_from, forward_reason and kind.
    """
    catalogue = load_catalogue(zones)
    offer = pick_offer(catalogue, offer_name)
    path = calls or SAMPLE_MONTH
    try:
        numbered = read_records(path)
    except RecordError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read ({exc.strerror})") from None
    # Records are rated in time order (allowances and caps depend on it), then shown in the
    # file's order; nothing is printed before every row has been rated.
    rater = Rater(catalogue, offer)
    priced: dict[int, PricedCall] = {}
    for line, record in sorted(numbered, key=lambda item: (item[1].start, item[0])):
        try:
            priced[line] = rater.rate(record)
        except RatingError as exc:
            raise click.ClickException(f"{path}: {RecordError(line, None, str(exc))}") from None
    results = [priced[line] for line, _ in numbered]
    invoices = rater.invoices()
    if output == "json":
        _print_json(results, invoices)
    elif output == "csv":
        _print_csv(results)
    else:
        _print_table(path, offer, results, invoices)


def _mobiles(offer: Offer) -> str:
    mobiles = offer.mobiles
    if mobiles.allowance == "unlimited":
        return "unlimited"
    if mobiles.allowance == "none":
        return "out of plan"
    rollover = ", unused seconds rolled over" if mobiles.rollover_months else ""
    return f"{mobiles.seconds // 60} min a month, per second{rollover}"


def _record_fields(record: CallRecord) -> dict[str, Any]:
    return {
        "start": record.start.isoformat(),
        "line": str(record.line),
        "caller": record.caller,
        "callee": record.callee,
        "duration_s": record.duration_s,
        "account": record.account,
        "disposition": str(record.disposition),
        "forwarded_from": record.forwarded_from,
        "forward_reason": str(record.forward_reason) if record.forward_reason else None,
        "kind": record.kind,
    }


def _priced_fields(priced: PricedCall) -> dict[str, Any]:
    return {
        **_record_fields(priced.record),
        "cost_eur": str(priced.cost),
        "included": priced.included,
        "priced": priced.priced,
        "rule": priced.rule,
    }


def invoice_fields(invoice: Invoice) -> dict[str, Any]:
    """An invoice as JSON-ready fields, amounts as decimal strings."""
    return {
        "account": invoice.account,
        "month": invoice.month,
        "offer": invoice.offer,
        "subscription_eur": str(invoice.subscription),
        "rental_eur": str(invoice.rental),
        "calls_eur": str(invoice.calls),
        "fees_eur": str(invoice.fees),
        "penalties_eur": str(invoice.penalties),
        "total_eur": str(invoice.total),
        "call_count": invoice.call_count,
        "included_count": invoice.included_count,
        "not_priced_count": invoice.not_priced_count,
        "correspondents": invoice.correspondents,
        "mobile_seconds_used": invoice.mobile_seconds_used,
        "mobile_seconds_rolled_over": invoice.mobile_seconds_rolled_over,
    }


def _print_json(results: Sequence[PricedCall], invoices: Sequence[Invoice]) -> None:
    document = {
        "calls": [_priced_fields(p) for p in results],
        "invoices": [invoice_fields(i) for i in invoices],
    }
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _print_csv(results: Sequence[PricedCall]) -> None:
    writer = csv.DictWriter(
        sys.stdout, fieldnames=[*FIELDS, "cost_eur", "included", "priced", "rule"]
    )
    writer.writeheader()
    for priced in results:
        writer.writerow(_priced_fields(priced))


def _print_table(
    path: Path, offer: Offer, results: Sequence[PricedCall], invoices: Sequence[Invoice]
) -> None:
    console = Console()
    calls = Table(title=f"{path.name} on {offer.title}", title_justify="left")
    for column in ("start", "line", "callee", "dest.", "s", "EUR HT", "rule"):
        calls.add_column(column, justify="right" if column in ("s", "EUR HT") else "left")
    for priced in results:
        record, number = priced.record, priced.destination
        where = f"{number.kind} {number.region}" if number else record.kind
        calls.add_row(
            record.start.strftime("%Y-%m-%d %H:%M"),
            str(record.line),
            record.callee,
            where,
            str(record.duration_s),
            _eur(priced.cost) if priced.priced else "n/p",
            priced.rule,
        )
    console.print(calls)
    for invoice in invoices:
        account = f", account {invoice.account}" if invoice.account else ""
        console.print(f"\n[bold]Invoice {invoice.month}{account}[/bold] ({invoice.offer})")
        bill = Table(show_header=False)
        bill.add_column()
        bill.add_column(justify="right")
        bill.add_row("subscription", _eur(invoice.subscription))
        bill.add_row("Livebox pro rental", _eur(invoice.rental))
        bill.add_row("calls out of plan", _eur(invoice.calls))
        bill.add_row("fees", _eur(invoice.fees))
        bill.add_row("SLA penalties", "-" + _eur(invoice.penalties))
        bill.add_row("[bold]total EUR HT[/bold]", f"[bold]{invoice.total}[/bold]")
        console.print(bill)
        console.print(
            f"{invoice.call_count} calls, {invoice.included_count} included, "
            f"{invoice.not_priced_count} not priced; {invoice.correspondents} correspondents; "
            f"mobile seconds used {invoice.mobile_seconds_used} "
            f"(rolled over in: {invoice.mobile_seconds_rolled_over})"
        )


def _eur(amount: Decimal) -> str:
    """Cents always, and the sub-cent digits a per-second price leaves, up to the micro-euro."""
    whole, _, decimals = f"{amount:.6f}".partition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"
