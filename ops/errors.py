"""The one error type the CLI turns into a single line on stderr and exit code 2."""

from __future__ import annotations


class CruddurError(Exception):
    """A failure the operator can act on. The message is one line and never contains a password.

    Raise it with a message that says what failed and, where possible, what to do next. The CLI prints
    ``error: <message>`` on stderr (scrubbed of secrets once more) and exits with code 2.
    """

    exit_code = 2

    def __init__(self, message: str):
        # One line: collapse whatever a driver or subprocess handed us.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return self.args[0]
