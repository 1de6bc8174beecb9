"""The exceptions the CLI turns into a clear message and a non-zero exit."""

import threading


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
