"""The root `livebox` command: one subcommand group per package."""

from __future__ import annotations

import click

from emulator.cli import emulate
from labs.lab_cli import lab
from labs.shard import placements
from profiles.cli import offers, rate
from provisioning.cli import provision_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="livebox-lab")
@click.pass_context
def livebox(context: click.Context) -> None:
    """Provision, emulate and bill the Livebox pro of the Orange Optimale pro bundle."""
    # `livebox emulate --inventory` reads sites, which the emulator itself never does.
    context.obj = {"placements": placements}


livebox.add_command(offers)
livebox.add_command(rate)
livebox.add_command(emulate)
livebox.add_command(provision_command)
livebox.add_command(lab)


def main() -> None:
    livebox()
