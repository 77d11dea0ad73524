"""One error type for every bad input a user can give pix2gan."""


class Pix2GanError(ValueError):
    """Bad user input: the message is one line naming the file or value and the fix.

    The command line turns it into ``error: <message>`` and exit status 2.
    """


def require(condition: bool, message: str) -> None:
    """Raise :class:`Pix2GanError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Pix2GanError(message)
