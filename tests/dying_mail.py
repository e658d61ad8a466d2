"""Mail backends for the relay's crash tests."""
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

sent = []  # (message, in a transaction?) for every message "delivered" here
die_at = {"n": 0}  # die right after delivering message number n (0: never)


class WorkerDied(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even an ``except Exception``."""


class Backend(BaseEmailBackend):
    """A mail server that accepts every message; the relay's process dies
    right after message ``die_at["n"]`` went out, before it could record it."""

    def send_messages(self, email_messages):
        for message in email_messages:
            sent.append((message, connection.in_atomic_block))
            if len(sent) == die_at["n"]:
                raise WorkerDied()
        return len(email_messages)


def reset(die_after: int = 0) -> None:
    sent.clear()
    die_at["n"] = die_after
