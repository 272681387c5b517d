"""The one exception type user-facing code raises for bad input.

The CLI turns it into a one-line message on stderr and exit code 2; library
users catch it (it is a ``ValueError``) like any invalid-argument error.
"""


class LoiError(ValueError):
    """Invalid user input: a malformed file, a bad config, an unknown name."""
