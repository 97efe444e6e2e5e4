"""`probity conflict ...` (the conflicts register) and `probity access status|recover`.

Conflict values are stored only as blind indexes (keyed HMAC, normalised), so `list` shows kinds
and counts: nobody, the operator included, can read a registered value back. The operator is
admin-equivalent, so `conflict add` is not a one-person path either: it files a pending request
that a supervisor with standing over the member approves at /staff/access
(service.access.conflicts).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from service.access.conflict_values import conflict_value
from service.access.conflicts import request_conflict
from service.access.readerless import Backlog, ReaderlessTip, access_backlog, readerless_tips
from service.access.recovery import RecoveryOutcome, recover_with_key
from service.access.service import conflict_counts
from service.cli_common import (
    PasswordStdin,
    cli_errors,
    fail,
    out,
    read_recovery_identity,
    with_session,
)
from service.config import Settings
from service.instance.keys import load_blind_index_key
from service.staff.repository import get_staff

__all__ = ["access_app", "conflict_app"]

conflict_app = typer.Typer(help="The conflicts register.", no_args_is_help=True)
access_app = typer.Typer(help="Access to tip keys.", no_args_is_help=True)

_VALUE_HELP = "{} the member is conflicted with ('-' reads it from standard input)."


def _one_value(name: str | None, badge: str | None, unit: str | None) -> tuple[str, str]:
    given = [(kind, value) for kind, value in (("name", name), ("badge", badge), ("unit", unit))]
    chosen = [(kind, value) for kind, value in given if value is not None]
    if len(chosen) != 1:
        raise fail("give exactly one of --name, --badge or --unit")
    kind, value = chosen[0]
    if value == "-":  # keeps an officer's name out of the shell history
        value = sys.stdin.readline().rstrip("\n")
    return kind, value


@conflict_app.command("add")
@cli_errors
def conflict_add(
    username: Annotated[str, typer.Argument(help="The staff member who has the conflict.")],
    name: Annotated[str | None, typer.Option(help=_VALUE_HELP.format("Officer name"))] = None,
    badge: Annotated[str | None, typer.Option(help=_VALUE_HELP.format("Badge number"))] = None,
    unit: Annotated[str | None, typer.Option(help=_VALUE_HELP.format("Unit"))] = None,
) -> None:
    """Request a conflict for a member: once a supervisor of one of their compartments (or of
    oversight) approves it at /staff/access, they leave every tip naming it and never receive the
    keys of such tips again. The answer is the same whether or not any tip names it.

    Example: echo "Juan Ramírez" | probity conflict add ana --name -
    """
    kind, value = _one_value(name, badge, unit)

    def action(session: Session, settings: Settings) -> None:
        key = load_blind_index_key(settings.effective_keys_dir)
        conflict = conflict_value(kind, value, key)
        staff = get_staff(session, username)
        request_conflict(session, staff=staff, conflict=conflict, requested_by=None)

    with_session(action)
    out.print(f"Filed a {kind} conflict request for {username}.", highlight=False)
    out.print(
        "It takes effect once a supervisor of one of their compartments (or of oversight) "
        "approves it at /staff/access."
    )


@conflict_app.command("list")
@cli_errors
def conflict_list(
    username: Annotated[str, typer.Argument(help="The staff member.")],
) -> None:
    """Show how many conflicts of each kind a member has (values cannot be shown).

    Example: probity conflict list ana
    """
    counts = with_session(
        lambda session, _s: conflict_counts(session, get_staff(session, username))
    )
    for kind, count in counts.items():
        out.print(f"{kind:<6} {count}", highlight=False)


def _print_status(backlog: Backlog, tips: list[ReaderlessTip]) -> None:
    out.print(f"Tips waiting for a key rewrite: {backlog.tips_waiting}", highlight=False)
    out.print(f"  with no supervisor to apply it: {backlog.without_supervisor}", highlight=False)
    out.print(f"Tips with no reader: {backlog.without_reader}", highlight=False)
    for tip in tips:
        since = tip.since.isoformat() if tip.since else "-"
        out.print(
            f"  {tip.tip_id}  compartment {tip.compartment}  received {tip.received_on}  "
            f"no reader since {since}",
            highlight=False,
        )
    if tips:
        out.print("Reroute them to oversight with `probity access recover --recovery-file F`.")


@access_app.command("status")
@cli_errors
def access_status() -> None:
    """Show what waits for a key holder, and list (content-free) every tip nobody can read: the
    tip id, its compartment, the day it was received and the day it lost its last reader.

    Example: probity access status
    """
    backlog, tips = with_session(
        lambda session, _s: (access_backlog(session), readerless_tips(session))
    )
    _print_status(backlog, tips)


@access_app.command("recover")
@cli_errors
def access_recover(
    recovery_file: Annotated[
        Path, typer.Option(help="The passphrase-protected recovery key file from `probity init`.")
    ],
    password_stdin: PasswordStdin = False,
) -> None:
    """Use the offline recovery key to apply every pending key rewrite, and reroute tips left
    with no reader (e.g. after a conflict) to the oversight compartment.

    Example: echo "$RECOVERY_PASSPHRASE" | probity access recover --recovery-file
    /media/offline/probity-recovery-key.age --password-stdin
    """
    identity = read_recovery_identity(recovery_file, password_stdin)
    outcome: RecoveryOutcome = with_session(
        lambda session, _s: recover_with_key(session, recovery_identity=identity)
    )
    out.print(f"Rewrote the keys of {outcome.rewritten} tip(s).", highlight=False)
    out.print(f"Rerouted {outcome.rerouted} tip(s) with no reader to oversight.", highlight=False)
    if outcome.still_without_reader:
        raise fail(
            f"{outcome.still_without_reader} tip(s) still have no reader: nobody in oversight is "
            "eligible (conflicts); add an oversight member and run this again"
        )
