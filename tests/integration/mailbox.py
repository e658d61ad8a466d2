"""Django's file-based email backend, with its directory taken from the environment.

The worker subprocesses run ``releasemgmt.settings`` unchanged, and those
settings read ``EMAIL_BACKEND`` from the environment but not
``EMAIL_FILE_PATH``; this backend reads ``EMAIL_FILE_PATH`` itself so a test
can point a real worker's mail at a temporary directory and count it.
"""
import json
import os
import time
import uuid

from django.core.mail.backends import filebased

_written = {"n": 0}


class EmailBackend(filebased.EmailBackend):
    """With ``EMAIL_HOLD_AFTER=<n>`` the process, having written its n-th
    message, notes it in ``EMAIL_HOLD_DIR/<pid>.json`` and hangs there: the
    message has gone out, the relay has not recorded it, and the test can
    kill the worker at exactly that point."""

    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, file_path=file_path or os.environ["EMAIL_FILE_PATH"], **kwargs)

    def send_messages(self, email_messages):
        count = super().send_messages(email_messages)  # written and flushed
        hold_after = int(os.environ.get("EMAIL_HOLD_AFTER") or 0)
        if hold_after and email_messages:
            _written["n"] += len(email_messages)
            if _written["n"] >= hold_after:
                last = email_messages[-1].message()
                marker = os.path.join(os.environ["EMAIL_HOLD_DIR"], f"{os.getpid()}.json")
                with open(marker + ".tmp", "w") as f:
                    json.dump({"message_id": str(last["Message-ID"]), "to": str(last["To"])}, f)
                os.replace(marker + ".tmp", marker)
                time.sleep(600)  # until the test kills this process
        return count

    def _get_filename(self):
        # One file per connection, never reused (Django names files by id(self)).
        if self._fname is None:
            self._fname = os.path.join(self.file_path, f"{uuid.uuid4().hex}.log")
        return self._fname


SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def read_messages(directory):
    """Every message written to ``directory`` by this backend."""
    from email import message_from_bytes, policy
    from pathlib import Path

    messages = []
    for path in sorted(Path(directory).glob("*.log")):
        for chunk in path.read_bytes().split(SEPARATOR):
            if chunk.strip():
                messages.append(message_from_bytes(chunk, policy=policy.default))
    return messages
