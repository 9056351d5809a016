"""The `livebox emulate` command: serve a fleet of emulated boxes until stopped."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import click

from emulator.dsl import LineProfileError, Technology
from emulator.fleet import Fleet, LineSpec, ServedBox
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
    if pcap_path is not None and not telephony:
        raise click.ClickException("--pcap records SIP: it needs telephony (drop --no-telephony)")
    fleet = Fleet(
        offer,
        boxes=boxes,
        line=line,
        admin_user=user,
        admin_password=password,
        state_dir=state_dir,
        own_addresses=own_addresses,
        telephony=telephony,
        sip_password=sip_password,
        subscribers=subscribers,
        tap=PcapTap() if pcap_path else None,
    )
    try:
        asyncio.run(_serve(fleet, as_json))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot serve the boxes: {exc}") from None
    if fleet.tap is not None and pcap_path is not None:
        try:
            written = fleet.tap.write(pcap_path)
        except OSError as exc:
            raise click.ClickException(f"cannot write {pcap_path}: {exc.strerror}") from None
        if not as_json:
            click.echo(f"{written} SIP packets written to {pcap_path}.", err=True)


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


async def _serve(fleet: Fleet, as_json: bool) -> None:
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
        await fleet.start(on_ready=announce)
        if not as_json:
            click.echo(f"{len(fleet.served)} boxes ready; Ctrl-C to stop.", err=True)
        await stop.wait()
    finally:
        await fleet.close()
        if not as_json:
            saved = f", saved in {fleet.state_dir}" if fleet.state_dir else ""
            click.echo(f"stopped{saved}.", err=True)
