"""The `livebox emulate` command: serve a fleet of emulated boxes until stopped."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from emulator.dsl import LineProfileError, Technology
from emulator.fleet import Fleet, LineSpec, ServedBox, Shard
from emulator.sip.pcap import PcapTap
from emulator.telephony.registrar import Subscriber
from emulator.telephony.subscribers import load_subscribers, parse_subscriber
from profiles.catalogue import Catalogue, DataFileError, UnknownOfferError


@click.command("emulate")
@click.option("--boxes", default=1, show_default=True, type=click.IntRange(1, 20_000))
@click.option("--offer", "offer_name", default="optimale-pro-intense", show_default=True)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep each box in DIR/<name>: a restart brings back its configuration and host key.",
)
@click.option("--user", default="admin", show_default=True, help="The admin user of every box.")
@click.option(
    "--password",
    default="admin",
    show_default=True,
    envvar="LIVEBOX_PASSWORD",
    help="The admin password of every box (or LIVEBOX_PASSWORD).",
)
@click.option(
    "--technology",
    type=click.Choice([t.value for t in Technology]),
    default=Technology.VDSL2.value,
    show_default=True,
)
@click.option(
    "--attenuation",
    type=click.FloatRange(0, 90),
    default=12.0,
    show_default=True,
    help="Line attenuation in dB at 300 kHz.",
)
@click.option("--tv", is_flag=True, help="TV in use (lowers the internet rate, as the offer says).")
@click.option(
    "--own-addresses",
    is_flag=True,
    help="Give each box its own loopback address (127.10.0.1, 127.10.0.2, ...).",
)
@click.option(
    "--telephony/--no-telephony",
    default=True,
    show_default=True,
    help="Serve the operator core (SIP registrar and calls) and the boxes' VoIP lines.",
)
@click.option(
    "--sip-password",
    default="livebox-lab-sip",
    show_default=True,
    envvar="LIVEBOX_SIP_PASSWORD",
    help="The SIP password the operator gave every box's VoIP line (or LIVEBOX_SIP_PASSWORD).",
)
@click.option(
    "--subscriber",
    "subscriber_args",
    multiple=True,
    metavar="NUMBER:PASSWORD",
    help="An external SIP subscriber (any phone may register as it; user name = the number "
    "in E.164). Repeatable.",
)
@click.option(
    "--subscribers",
    "subscribers_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A YAML file of external subscribers: `subscribers:` a list of number, password "
    "and optionally user.",
)
@click.option(
    "--inventory",
    "inventory",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Serve the boxes of this inventory (livebox provision's), each where its site says.",
)
@click.option(
    "--shard",
    "shard_text",
    metavar="I/N",
    help="With --inventory: serve only the I-th of N slices, so that N processes serve one bench.",
)
@click.option(
    "--pcap",
    "pcap_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the operator core's SIP traffic to this pcap file when stopped (Wireshark).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per box and per line.")
def emulate(
    boxes: int,
    offer_name: str,
    state_dir: Path | None,
    user: str,
    password: str,
    technology: str,
    attenuation: float,
    tv: bool,
    own_addresses: bool,
    telephony: bool,
    sip_password: str,
    subscriber_args: tuple[str, ...],
    subscribers_file: Path | None,
    inventory: Path | None,
    shard_text: str | None,
    pcap_path: Path | None,
    as_json: bool,
) -> None:
    """Serve emulated Livebox pro boxes over SSH and sysbus HTTP on loopback, until Ctrl-C.

    Each box is printed as soon as it listens; with --json, as one object per line with
    `name`, `ssh` and `http` (host:port) and the admin `user`; with telephony (the default)
    also `sip` (the operator core's host:port, where VoIP lines and external phones
    register), `voip_number`, `classic_number` and `sip_user`. Ctrl-C or SIGTERM stops every
    box cleanly, saving them when --state is given.
    """
    try:
        catalogue = Catalogue.load()
        offer = catalogue.offer(offer_name)
        line = LineSpec(Technology(technology), attenuation, tv)
        line.profile()
        subscribers = _subscribers(catalogue, subscriber_args, subscribers_file)
    except (DataFileError, UnknownOfferError, LineProfileError) as exc:
        raise click.ClickException(str(exc)) from None
    if subscribers and not telephony:
        raise click.ClickException("external subscribers need telephony (drop --no-telephony)")
    placements = _placements(inventory, shard_text)
    if pcap_path is not None and not telephony:
        raise click.ClickException("--pcap records SIP: it needs telephony (drop --no-telephony)")
    tap = PcapTap() if pcap_path else None
    if placements is None:
        fleets = [
            Fleet(
                offer,
                boxes=boxes,
                line=line,
                admin_user=user,
                admin_password=password,
                state_dir=state_dir,
                own_addresses=own_addresses,
                telephony=telephony,
                sip_password=sip_password,
            )
        ]
    else:  # one fleet per offer of the inventory's slice, sharing one operator core
        fleets = [
            Fleet(
                catalogue.offer(name),
                names=list(boxes_of_offer),
                line=line,
                admin_user=user,
                admin_password=password,
                state_dir=state_dir,
                telephony=telephony,
                sip_password=sip_password,
                placements=boxes_of_offer,
            )
            for name, boxes_of_offer in placements.items()
        ]
    if fleets:
        fleets[0].subscribers, fleets[0].tap = subscribers, tap
    try:
        asyncio.run(_serve(fleets, as_json))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot serve the boxes: {exc}") from None
    if tap is not None and pcap_path is not None:
        try:
            written = tap.write(pcap_path)
        except OSError as exc:
            raise click.ClickException(f"cannot write {pcap_path}: {exc.strerror}") from None
        if not as_json:
            click.echo(f"{written} SIP packets written to {pcap_path}.", err=True)


def _placements(inventory: Path | None, shard_text: str | None) -> dict[str, Any] | None:
    """The boxes of an inventory's slice, read by the reader the root command provides."""
    if inventory is None:
        if shard_text is not None:
            raise click.BadParameter("--shard slices an inventory: give --inventory too")
        return None
    try:
        shard = Shard.parse(shard_text or "1/1")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    context = click.get_current_context()
    reader = (context.find_object(dict) or {}).get("placements")
    if reader is None:
        raise click.ClickException("--inventory needs the livebox command (it reads sites)")
    try:
        placements: dict[str, Any] = reader(inventory, shard)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return placements


def _subscribers(
    catalogue: Catalogue, arguments: tuple[str, ...], path: Path | None
) -> list[Subscriber]:
    plan = catalogue.numbering_plan()
    subscribers = load_subscribers(path, plan) if path else []
    for text in arguments:
        try:
            subscribers.append(parse_subscriber(text, plan))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--subscriber") from None
    numbers = [subscriber.number for subscriber in subscribers]
    twice = sorted({number for number in numbers if numbers.count(number) > 1})
    if twice:
        raise click.BadParameter(f"{twice[0]} is declared twice", param_hint="--subscriber")
    return subscribers


async def _serve(fleets: list[Fleet], as_json: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def announce(served: ServedBox) -> None:
        where = served.endpoints()
        if as_json:
            line = json.dumps(where)
        else:
            line = (
                f"{where['name']}  ssh {where['ssh']}  http {where['http']}  user {where['user']}"
            )
            if "sip" in where:
                line += (
                    f"  sip {where['sip']}  voip {where['voip_number']}"
                    f"  classic {where['classic_number']}  sip-user {where['sip_user']}"
                )
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        for fleet in fleets:
            fleet.core = fleet.core or fleets[0].core  # the first one starts it
            await fleet.start(on_ready=announce)
        if not as_json:
            count = sum(len(fleet.served) for fleet in fleets)
            click.echo(f"{count} boxes ready; Ctrl-C to stop.", err=True)
        await stop.wait()
    finally:
        for fleet in reversed(fleets):  # the first one closes the core it started
            await fleet.close()
        if not as_json:
            state = fleets[0].state_dir if fleets else None
            saved = f", saved in {state}" if state else ""
            click.echo(f"stopped{saved}.", err=True)
