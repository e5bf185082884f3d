"""The demo's output: a live panel redrawn in place on a terminal, or plain lines for logs and CI.

Both views take the same calls: ``step`` (what happens now), ``note`` (why), ``update`` (a new snapshot),
``progress`` (while waiting) and ``block`` (lines that stay, such as the summary). The plain view prints a
line only when something it shows has changed (a renewal alone is not a change), and a progress line at
most every few seconds, so its output reads as a log.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import time
from typing import Protocol, TextIO

from leadergroup.demo.observe import ElectorState, Snapshot, clock_time, seconds_ago

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
PLAIN_PROGRESS_INTERVAL = 3.0

# Styles of panel lines: plain text in, one style per line, so truncation never cuts an escape sequence.
_STYLES = {
    "": "",
    "title": "\x1b[1m",
    "leader": "\x1b[1;32m",
    "dead": "\x1b[31m",
    "dim": "\x1b[2m",
    "wait": "\x1b[33m",
    "step": "\x1b[1;36m",
}
_RESET = "\x1b[0m"


class View(Protocol):
    """What the scenario calls to tell the user what is going on."""

    def step(self, text: str) -> None:
        """A new stage of the demo begins."""

    def note(self, text: str) -> None:
        """An explanation or a result."""

    def update(self, snapshot: Snapshot) -> None:
        """What was observed now."""

    def progress(self, text: str) -> None:
        """Still waiting, for what and for how long."""

    def block(self, lines: list[str]) -> None:
        """Lines that stay on screen (the final state, the summary)."""

    def close(self) -> None:
        """Leave the terminal as it was found."""


def panel(snapshot: Snapshot, header: str, width: int) -> list[tuple[str, str]]:
    """The state as (style, text) lines, each at most ``width`` long (wrapped, or cut when one word)."""
    lines: list[tuple[str, str]] = []

    def add(label: str, text: str, style: str = "") -> None:
        indent = " " * 12
        wrapped = textwrap.wrap(
            text, width, initial_indent=f"{label:<12}", subsequent_indent=indent, break_on_hyphens=False
        )
        lines.extend((style, _fit(line, width)) for line in wrapped or [label])

    lines.append(("title", _fit(header, width)))
    add("Children:", "  ".join(snapshot.children) if snapshot.children else "(none yet)")
    if snapshot.electors:
        lines.append(("", "Electors:   local processes; identity = pod name"))
        for elector in snapshot.electors:
            style, text = _elector(elector, snapshot.holder)
            lines.append((style, _fit(text, width)))
    lease = snapshot.lease
    if lease is not None:
        ago = seconds_ago(lease.renew_time)
        renewed = f"{clock_time(lease.renew_time)} ({ago:.1f}s ago)" if ago is not None else "-"
        add(
            "Lease:",
            f"holder={lease.holder or '(none)'}  transitions={lease.transitions}  renewTime={renewed}  "
            f"leaseDurationSeconds={lease.duration or '-'}",
        )
    group = snapshot.group
    if group is not None:
        conditions = "  ".join(f"{kind}={status}" for kind, status, _ in group.conditions) or "-"
        add(
            "Status:",
            f"holder={group.holder or '(none)'}  ready={group.ready or '-'}  "
            f"transitions={group.transitions}  {conditions}",
        )
    for index, event in enumerate(snapshot.events):
        add("Events:" if index == 0 else "", f"{event.when}  {event.reason}: {event.message}", "dim")
    return lines


def _elector(elector: ElectorState, holder: str) -> tuple[str, str]:
    holds = elector.identity == holder
    dead = elector.state.startswith(("killed", "exited"))
    mark = "x" if dead else ("*" if holds else " ")
    # A crashed holder stays named in the Lease until the others see it expire.
    lease = "  still named in the Lease" if holds and dead else ""
    role = f"  (pod label role={elector.pod_role})" if elector.pod_role else ""
    text = f"  {mark} {elector.identity}  pid {elector.pid}  {elector.state}{lease}{role}"
    return ("dead" if dead else ("leader" if holds else "")), text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


class PlainView:
    """Line-oriented output: no colours, no cursor movement; each line stamped with the elapsed time."""

    def __init__(self, header: str, stream: TextIO | None = None) -> None:
        self.header = header
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self._last: Snapshot | None = None
        self._progress_at = float("-inf")

    def _print(self, text: str) -> None:
        self.stream.write(f"[{time.monotonic() - self.started:5.1f}s] {text}\n")
        self.stream.flush()

    def step(self, text: str) -> None:
        """A new stage of the demo begins."""
        self._print(f"== {text}")
        self._progress_at = float("-inf")

    def note(self, text: str) -> None:
        """An explanation or a result."""
        self._print(f"   {text}")

    def progress(self, text: str) -> None:
        """Printed at most every few seconds."""
        if time.monotonic() - self._progress_at >= PLAIN_PROGRESS_INTERVAL:
            self._progress_at = time.monotonic()
            self._print(f"   ... {text}")

    def update(self, snapshot: Snapshot) -> None:
        """One line per change since the previous snapshot."""
        last = self._last or Snapshot(taken=0.0)
        self._last = snapshot
        for child in snapshot.children:
            if child not in last.children:
                self._print(f"   child created: {child}")
        lease, old_lease = snapshot.lease, last.lease
        if lease and (
            old_lease is None
            or (lease.holder, lease.transitions) != (old_lease.holder, old_lease.transitions)
        ):
            self._print(
                f"   lease: holder={lease.holder or '(none)'} transitions={lease.transitions} "
                f"renewTime={lease.renew_time or '-'} leaseDurationSeconds={lease.duration or '-'}"
            )
        group, old_group = snapshot.group, last.group
        if group and group != old_group:
            conditions = ",".join(f"{kind}={status}" for kind, status, _ in group.conditions) or "-"
            self._print(
                f"   status: holder={group.holder or '(none)'} ready={group.ready or '-'} "
                f"transitions={group.transitions} conditions={conditions}"
            )
        for event in snapshot.events:
            if event not in last.events:
                self._print(f"   event: {event.reason}: {event.message}")
        before = {elector.identity: elector for elector in last.electors}
        for elector in snapshot.electors:
            previous = before.get(elector.identity)
            if previous is None or (previous.state, previous.pid) != (elector.state, elector.pid):
                self._print(f"   elector {elector.identity} (pid {elector.pid}): {elector.state}")

    def block(self, lines: list[str]) -> None:
        """Printed as they are, without the time stamps: a report, not a log."""
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()

    def close(self) -> None:
        """Nothing to restore."""


class TerminalView:
    """A panel redrawn in place below the scrolling narrative, with a spinner while waiting."""

    def __init__(self, header: str, stream: TextIO | None = None) -> None:
        self.header = header
        self.stream = stream or sys.stdout
        self.colour = not os.environ.get("NO_COLOR")
        self._snapshot: Snapshot | None = None
        self._status = ""
        self._frame = 0
        self._drawn = 0  # lines of the panel currently on screen
        self.stream.write("\x1b[?25l")  # hide the cursor while redrawing

    def _style(self, style: str, text: str) -> str:
        code = _STYLES[style] if self.colour else ""
        return f"{code}{text}{_RESET}" if code else text

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        width = max(40, shutil.get_terminal_size().columns - 1)
        lines = panel(self._snapshot, self.header, width) if self._snapshot else []
        if self._status:
            frame = SPINNER[self._frame % len(SPINNER)]
            lines.append(("wait", _fit(f"{frame} {self._status}", width)))
        self.stream.write("".join(self._style(style, text) + "\n" for style, text in lines))
        self._drawn = len(lines)
        self.stream.flush()

    def _above(self, text: str) -> None:
        self._erase()
        self.stream.write(text + "\n")
        self._draw()

    def step(self, text: str) -> None:
        """A bold line above the panel; the spinner stops."""
        self._status = ""
        self._above("\n" + self._style("step", f"▸ {text}"))

    def note(self, text: str) -> None:
        """A line above the panel."""
        self._above(f"  {text}")

    def progress(self, text: str) -> None:
        """The spinner line under the panel."""
        self._status = text
        self._frame += 1
        self._erase()
        self._draw()

    def update(self, snapshot: Snapshot) -> None:
        """Redraw the panel."""
        self._snapshot = snapshot
        self._erase()
        self._draw()

    def block(self, lines: list[str]) -> None:
        """Lines below the panel, which stays as the last state."""
        self._status = ""
        self._erase()
        self._draw()
        self._drawn = 0  # the panel above is final now: later output scrolls below it
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()

    def close(self) -> None:
        """Stop the spinner and show the cursor again."""
        if self._drawn:
            self._status = ""
            self._erase()
            self._draw()
            self._drawn = 0
        self.stream.write("\x1b[?25h")
        self.stream.flush()


def make_view(plain: bool, header: str) -> View:
    """The terminal panel, or plain lines when asked or when stdout is not a terminal."""
    return PlainView(header) if plain else TerminalView(header)
