"""The exceptions the CLI turns into a clear message and a non-zero exit, and the one policy that does it for
every subcommand (`run_command`): exit codes, messages and SIGTERM."""

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

EXIT_BUG = 1  # an unexpected exception: a bug of ours
EXIT_ERROR = 2  # a ReportError (argparse also exits 2 for bad options)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports 128 + SIGINT
EXIT_TERMINATED = 143  # SIGTERM, as a shell reports 128 + SIGTERM


class ReportError(Exception):
    """A failure the user can act on; its message is shown as is, without a traceback."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (from `timeout`, `kill`, a scheduler), raised like Ctrl-C so the same cleanup runs."""


# Set by the SIGTERM handler. Python may swallow an exception raised by a signal handler (inside a fork, a
# lock release or a finaliser), so whoever is about to make a result permanent checks this flag as well.
TERMINATION_REQUESTED = threading.Event()


def stop_if_terminated() -> None:
    if TERMINATION_REQUESTED.is_set():
        raise Terminated


MESSAGE_LIMIT = 1200  # characters: an error is a paragraph to read, not a dump


def one_paragraph(text: str) -> str:
    """A message on one line, cut to a readable length (a library's message may hold a whole file)."""
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 1] + "…"


def run_command(command: Callable[[], int], interrupted: str, debug: bool = False) -> int:
    """Run one subcommand and return its exit code: a ReportError is one `error:` paragraph on stderr (2),
    Ctrl-C 130 and SIGTERM 143 (both after printing `interrupted`, which says what was kept), anything else
    an `internal error:` paragraph (1), with its traceback when `debug` or WEIGHTS_REPORT_DEBUG is set."""
    if threading.current_thread() is not threading.main_thread():  # signals reach only the main thread
        return _handled(command, interrupted, debug)
    _MAIN_PID[0] = os.getpid()
    TERMINATION_REQUESTED.clear()  # a new command in this process (tests, a notebook) starts unterminated
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    sys.unraisablehook = _quiet_when_terminated
    try:
        return _handled(command, interrupted, debug)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _handled(command: Callable[[], int], interrupted: str, debug: bool) -> int:
    try:
        code = command()
        stop_if_terminated()  # a SIGTERM whose exception was swallowed still ends the run as one
        return code
    except ReportError as exc:
        print(f"error: {one_paragraph(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: say so plainly, trace only on request
        if debug or os.environ.get("WEIGHTS_REPORT_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {one_paragraph(str(exc))}. "
              "This is a bug in the report generator; "
              "rerun with --debug for the traceback and please report it.", file=sys.stderr)
        return EXIT_BUG


def _on_sigterm(signum, frame) -> None:
    if os.getpid() != _MAIN_PID[0]:  # a forked worker: die as the signal means, without a traceback
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    TERMINATION_REQUESTED.set()
    raise Terminated


_MAIN_PID = [os.getpid()]


def _quiet_when_terminated(unraisable) -> None:
    """A Terminated that Python had to swallow (raised inside a lock release or a finaliser) is not a bug to
    print: the run still stops, through TERMINATION_REQUESTED."""
    if not isinstance(unraisable.exc_value, Terminated):
        sys.__unraisablehook__(unraisable)
