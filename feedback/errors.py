"""The exceptions the feedback store raises: callers catch FeedbackError and show its message."""


class FeedbackError(Exception):
    """Anything that stops a feedback call; the message is meant for a person to read."""


class InvalidFeedbackError(FeedbackError, ValueError):
    """A drawing, label, answer or query argument is malformed; the message names the field."""


class RateLimitedError(FeedbackError):
    """This visitor saved too many drawings too quickly; try again in a moment."""


class StoreUnavailableError(FeedbackError):
    """The database cannot be reached or written (missing, locked, read-only, server down)."""
