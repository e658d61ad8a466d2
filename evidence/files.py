"""What an evidence file may be, read from the file itself.

An upload is accepted when its size is within ``EVIDENCE_MAX_BYTES`` and its
extension is in ``EVIDENCE_ALLOWED_TYPES`` *and* its first bytes show that
kind of file (the ``filetype`` library reads the signatures; text is UTF-8
without NUL bytes). What the client says the type is (its Content-Type) is
never believed: a script named ``report.pdf`` is refused, and the file is
served later with the type its content showed.

The SHA-256 of each uploaded file is taken while the upload streams in, by
the upload handlers below (``FILE_UPLOAD_HANDLERS`` in the settings): each
chunk is hashed as it passes on its way to memory or a temporary file.
"""
from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler

# Extension -> the media types its first bytes may show. Office documents
# are zip archives: one whose parts the sniffer does not reach still shows as zip.
SIGNED_TYPES = {
    "pdf": ("application/pdf",),
    "png": ("image/png",),
    "jpg": ("image/jpeg",), "jpeg": ("image/jpeg",),
    "gif": ("image/gif",),
    "zip": ("application/zip",),
    "gz": ("application/gzip",),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/zip"),
}
# Extension -> the media type it is served with: text has no signature; its
# content must decode as UTF-8 and hold no NUL byte.
TEXT_TYPES = {"txt": "text/plain", "log": "text/plain", "md": "text/plain", "csv": "text/csv",
              "json": "application/json", "xml": "text/plain", "yaml": "text/plain", "yml": "text/plain"}
KNOWN = (*SIGNED_TYPES, *TEXT_TYPES)
HEAD_BYTES = 8192  # what the sniffer reads (filetype reads no further)


class Refused(ValueError):
    """An upload refused, with the reason and a code."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Accepted:
    extension: str
    media_type: str


def allowed_extensions() -> tuple[str, ...]:
    return tuple(e for e in settings.EVIDENCE_ALLOWED_TYPES if e in KNOWN)


def extension_of(name: str) -> str:
    return os.path.splitext(name)[1].lower().lstrip(".")


def _is_text(head: bytes, complete: bool) -> bool:
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def check(upload) -> Accepted:
    """The upload's kind, or ``Refused`` saying why not (too large, empty,
    an extension not allowed, content that is not what the name says)."""
    limit = settings.EVIDENCE_MAX_BYTES
    if upload.size > limit:
        raise Refused(f"The file is {upload.size} bytes; the largest accepted is {limit} bytes.", "file_too_large")
    if upload.size == 0:
        raise Refused("The file is empty.", "file_empty")
    extension = extension_of(upload.name or "")
    allowed = allowed_extensions()
    if extension not in allowed:
        raise Refused(f"Files of type “.{extension[:20]}” are not accepted; accepted: "
                      f"{', '.join('.' + e for e in allowed)}.", "file_type")
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    shown = filetype.guess_mime(head)
    if extension in TEXT_TYPES:
        if shown is None and _is_text(head, complete=upload.size <= HEAD_BYTES):
            return Accepted(extension, TEXT_TYPES[extension])
        raise Refused(f"The file is named .{extension} but its content is not UTF-8 text"
                      f"{f' (it is {shown})' if shown else ''}.", "file_content")
    if shown in SIGNED_TYPES[extension]:
        return Accepted(extension, SIGNED_TYPES[extension][0] if shown == "application/zip" and extension != "zip"
                        else shown)
    raise Refused(f"The file is named .{extension} but its content is {shown or 'not of that type'}.",
                  "file_content")


def sha256_of(upload) -> str:
    """The hash taken as the upload streamed in, or (a file handed over some
    other way, e.g. by a test or a command) taken now."""
    known = getattr(upload, "sha256", None)
    if known:
        return known
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


class _Hashing:
    """Hash each chunk as it passes; the finished file carries ``sha256``."""

    def new_file(self, *args, **kwargs):
        self._digest = hashlib.sha256()  # first: the memory handler's new_file may stop the others by raising
        super().new_file(*args, **kwargs)

    def _keeps(self) -> bool:
        return True

    def receive_data_chunk(self, raw_data, start):
        if self._keeps():
            self._digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        if uploaded is not None:
            uploaded.sha256 = self._digest.hexdigest()
        return uploaded


class HashingMemoryFileUploadHandler(_Hashing, MemoryFileUploadHandler):
    def _keeps(self) -> bool:
        return self.activated  # otherwise the next handler (a temporary file) keeps, and hashes, it


class HashingTemporaryFileUploadHandler(_Hashing, TemporaryFileUploadHandler):
    pass
