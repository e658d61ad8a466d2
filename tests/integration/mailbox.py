"""Django's file-based email backend, with its directory taken from the environment.

The worker subprocesses run ``releasemgmt.settings`` unchanged, and those
settings read ``EMAIL_BACKEND`` from the environment but not
``EMAIL_FILE_PATH``; this backend reads ``EMAIL_FILE_PATH`` itself so a test
can point a real worker's mail at a temporary directory and count it.
"""
import os
import uuid

from django.core.mail.backends import filebased


class EmailBackend(filebased.EmailBackend):
    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, file_path=file_path or os.environ["EMAIL_FILE_PATH"], **kwargs)

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
