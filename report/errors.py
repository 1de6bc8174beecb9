"""The one exception the CLI turns into a clear message and a non-zero exit."""


class ReportError(Exception):
    """A failure the user can act on; its message is shown as is, without a traceback."""
