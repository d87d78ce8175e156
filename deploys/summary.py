"""The fleet summary at the end of every run: pyinfra's run state turned into exitkit.summary lines.

``track()`` (top of deploys/exit.py) registers one callback handler per run; deploy units
add attention lines with ``note(text)`` while preparing (for the current host) or
``note_for(host, text)`` from code that runs during execution.

When it is printed: once every relay pyinfra connected to has disconnected. pyinfra
disconnects in the ``finally`` of its command, so this happens after its own results,
also when hosts failed or the run stopped early ("No hosts remaining", --fail-percent).
An ``atexit`` hook prints it if that never happened.

Interrupted means not converged: pyinfra answers SIGINT with exit status 0 and a
SIGTERM kills it without a word, so ``track()`` takes both (and SIGHUP, a closed
terminal) over: the run stops with 128 + the signal's number, and the summary names
every relay whose operations did not all run as NOT CONVERGED, with those operations.
A run that executed nothing
(--dry, a refused confirmation, every relay unreachable so no deploy file was loaded)
prints no summary.

The same moment appends the run to the fleet's history (``exitkit.history``): one record per relay the run
reached, with its addresses, fingerprints, policy and reboot plan; a run that prints no summary records nothing.

Why the reason for a skipped relay comes from a second attempt: pyinfra connects to
every relay *before* it loads the deploy file, so a handler registered by the deploy
cannot see the first connection error. ``track()`` therefore tries each relay that
failed to connect once more (in parallel, with pyinfra's own connector) and keeps that
error; a relay that answers by then is reported as skipped all the same, as it was.
"""

from __future__ import annotations

import atexit
import signal
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import click
import gevent
import pyinfra
from pyinfra import host as current_host
from pyinfra import logger
from pyinfra import state as current_state
from pyinfra.api.exceptions import ConnectError
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import BaseStateCallback, State

from exitkit import control, history
from exitkit.history import RunRecord
from exitkit.plan import PLAN_KEY, exit_policy_of
from exitkit.policy import enforcement, policy_id
from exitkit.settings import RelaySettings
from exitkit.summary import RelayOutcome, format_summary, one_line, short_op_name


class FleetSummary(BaseStateCallback):
    """Collects what the run's state cannot tell (notes, connection errors) and prints the summary once."""

    def __init__(self, remember: bool = True) -> None:
        self.remember = remember  # append the run to the fleet's history (exit deploys; not the release upgrade)
        self.notes: dict[str, list[str]] = defaultdict(list)
        self.connect_errors: dict[str, str] = {}
        self.disconnected: set[Host] = set()
        self.printed = False
        self.stopped_by: str | None = None  # the signal that stopped the run

    # --- pyinfra callbacks (called as handler.method(state, ...))
    # pyinfra types these as staticmethods, but State.trigger_callbacks calls them on the handler
    # instance (getattr(handler, name)(state, ...)), so methods that keep what they saw on self work;
    # hence the override ignores.
    def host_connect_error(self, state: State, host: Host, error) -> None:  # type: ignore[override]
        self.connect_errors[host.name] = one_line(error.args[0] if getattr(error, "args", None) else error)

    def host_disconnect(self, state: State, host: Host) -> None:  # type: ignore[override]
        if host in state.activated_hosts:
            self.disconnected.add(host)
        if state.activated_hosts and self.disconnected >= state.activated_hosts:
            self.print_once(state)

    def stop(self, signum: int, frame) -> None:
        """A signal handler: remember which signal stopped the run, and stop it with a status that says so."""
        self.stopped_by = signal.Signals(signum).name
        raise SystemExit(128 + signum)

    # --- the summary
    def print_once(self, state: State) -> None:
        """Print the summary if the run executed operations and it was not printed yet."""
        if self.printed or not state.is_executing:
            return
        self.printed = True
        try:
            results = outcomes(state, self)
            text = format_summary(results, self.stopped_by)
        except Exception as error:  # a summary must never hide the run's own result
            logger.warning(f"exitkit: the fleet summary could not be made: {error!r}")
            return
        try:
            if self.remember:
                remember_run(state, results)
        except Exception as error:  # noqa: BLE001  (the run's own result comes first)
            logger.warning(f"exitkit: the fleet history could not be written: {error!r}")
        click.echo("", err=True)
        click.echo(text, err=True)

    def probe_unreachable(self, state: State) -> None:
        """Learn why each relay that failed to connect failed: one more attempt each, in parallel."""
        down = [h for h in state.inventory if state.is_host_in_limit(h) and h not in state.activated_hosts]

        def attempt(host: Host) -> None:
            try:
                host.connect(show_errors=False, raise_exceptions=True)
            except ConnectError:
                return  # host_connect_error above has kept the reason
            except Exception as error:  # noqa: BLE001  (any failure is the reason we want)
                self.connect_errors[host.name] = one_line(repr(error))
                return
            if host.connected:  # back by now: it stays out of this run, as pyinfra decided
                self.connect_errors[host.name] = "did not answer when the run connected (answers now: run again)"
                host.disconnect()

        gevent.joinall([gevent.spawn(attempt, h) for h in down if h.name not in self.connect_errors])


# Signals that stop a run: Ctrl-C, kill or a CI job's cancel, the control machine's terminal closing.
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _tracker(state: State, remember: bool = True) -> FleetSummary:
    """The run's one FleetSummary: the deploy file runs once per host, the handler is registered once."""
    for handler in state.callback_handlers:
        if isinstance(handler, FleetSummary):
            return handler
    handler = FleetSummary(remember)
    state.add_callback_handler(handler)  # before any yield, so parallel hosts find it
    atexit.register(handler.print_once, state)
    handler.probe_unreachable(state)
    return handler


def track(remember: bool = True) -> None:
    """Print the fleet summary at the end of this run, and (``remember``) append the run to the fleet's history;
    call at the top of a deploy file.

    In pyinfra's command (not in a program that uses pyinfra's API) it also takes over the stopping signals.
    """
    handler = _tracker(current_state, remember)
    if pyinfra.is_cli:
        for signum in STOPPING_SIGNALS:
            signal.signal(signum, handler.stop)


def note(text: str) -> None:
    """An attention line for the host being prepared (e.g. a reverse-DNS hint)."""
    note_for(current_host, text)


def note_for(host: Host, text: str) -> None:
    """An attention line for ``host``, e.g. from a callback that runs during execution."""
    _tracker(host.state).notes[host.name].append(text)


# --- from the run's state to outcomes
def _op_name(state: State, op_hash: str) -> str:
    names = sorted(state.get_op_meta(op_hash).names)
    return names[0] if names else op_hash


def _first_error_line(meta: OperationMeta) -> str:
    """The first line the failed operation printed (stderr first), or a pointer to the log."""
    for lines in (meta.stderr_lines, meta.stdout_lines):
        for line in lines:
            if line.strip():
                return line.strip()
    return "no output (see the log above)"


def relay_identity(host: Host) -> dict:
    """Network, nickname, address, policy id and where the policy holds, from the host's validated settings."""
    settings = RelaySettings.from_data(host.data.dict())
    try:
        policy = policy_id(exit_policy_of(settings))
    except ValueError:
        policy = "invalid"
    claim = enforcement(settings).summary
    plan = host.data.get(PLAN_KEY)
    hostname = plan.hostname if plan else ""
    return {"name": host.name, "network": settings.network, "nickname": settings.nickname,
            "address": settings.public_ipv4 or settings.public_ipv6 or hostname, "policy_id": policy,
            "enforcement": claim}


def outcome_of(state: State, host: Host, summary: FleetSummary, order: list[str]) -> RelayOutcome:
    """One relay's outcome, judged the way pyinfra's --json results judge success and change."""
    outcome = RelayOutcome(**relay_identity(host), notes=list(summary.notes.get(host.name, [])))
    if host not in state.activated_hosts:
        outcome.skipped_reason = summary.connect_errors.get(host.name, "could not connect (reason not known)")
        return outcome
    for op_hash in order:
        op_data = state.ops[host].get(op_hash)
        if op_data is None:
            continue
        meta = op_data.operation_meta
        if not meta.is_complete():
            outcome.not_run.append(_op_name(state, op_hash))
        elif meta.did_change():
            outcome.changed.append(_op_name(state, op_hash))
        elif not meta.did_succeed() and not op_data.global_arguments.get("_ignore_errors"):
            outcome.failed.append(f"{short_op_name(_op_name(state, op_hash))}: {_first_error_line(meta)}")
    return outcome


def remember_run(state: State, results: list[RelayOutcome]) -> None:
    """Append what this run left on each relay it reached to the fleet's history (exitkit.history)."""
    reached = {o.name: o.converged for o in results if o.skipped_reason is None}
    now = datetime.now(UTC)
    per_folder: dict[Path, tuple[list[RunRecord], dict[str, dict]]] = {}
    for host in state.inventory:
        if host.name not in reached:
            continue
        settings = RelaySettings.from_data(host.data.dict())
        plan = host.data.get(PLAN_KEY)
        folder = (plan.fleet_dir if plan else None) or Path(".")
        records, policies = per_folder.setdefault(folder, ([], {}))
        policy = exit_policy_of(settings)
        fingerprints = control.known_fingerprints(folder).get(host.name, {}) if settings.network == "tor" else {}
        records.append(history.run_record(
            time=now, fleet=plan.fleet if plan else "fleet", relay=host.name, network=settings.network,
            nickname=settings.nickname, hostname=plan.hostname if plan else "", ipv4=settings.public_ipv4 or "",
            ipv6=settings.public_ipv6 or "", policy=policy, converged=reached[host.name], fingerprints=fingerprints,
            reboot_mode=settings.reboot,
            reboot_local=plan.reboot_time if plan else "", timezone=settings.timezone))
        document = history.policy_document(policy)
        policies[document["policy_id"]] = document
    for folder, (records, policies) in per_folder.items():
        control.append_history(folder, records, list(policies.values()))


def outcomes(state: State, summary: FleetSummary) -> list[RelayOutcome]:
    order = state.get_op_order()
    return [outcome_of(state, host, summary, order) for host in state.inventory if state.is_host_in_limit(host)]
