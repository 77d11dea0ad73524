"""One error type for every bad input a user can give pix2gan."""


class Pix2GanError(ValueError):
    """Bad user input: the message is one line naming the file or value and the fix.

    ``argument`` names the Python argument or setting at fault (for example ``l1_weight``), so
    the command line can say ``--l1-weight`` instead; it turns the error into ``error: <message>``
    and exit status 2.
    """

    def __init__(self, message: str, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


def require(condition: bool, message: str) -> None:
    """Raise :class:`Pix2GanError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Pix2GanError(message)
