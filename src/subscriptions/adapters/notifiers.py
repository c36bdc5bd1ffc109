"""Notifiers that hand messages to an operator rather than to a mail server: each
message written as an email file in a folder, or as text on a stream.

A host sends messages with its own notifier (its mail service); these two serve the
command line, a test, or a host that has another program send what lands in a
folder. Either one writes the whole message or raises, so that a message it could not
write stays in the outbox, to be delivered next time.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO

from ..errors import InvalidInput
from ..messages import Message

__all__ = ["DirectoryNotifier", "StreamNotifier", "as_email"]


def as_email(message: Message) -> EmailMessage:
    """``message`` as an email (``To``, ``Subject``, ``Content-Language``, the text, and
    its HTML as an alternative part when the renderer wrote some), with no sender:
    whoever sends it adds their own."""
    email = EmailMessage()
    email["To"] = ", ".join(message.to)
    email["Subject"] = message.subject
    email["Content-Language"] = message.locale.replace("_", "-")
    email["X-Subscriptions-Kind"] = message.kind
    email.set_content(message.text)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    return email


class DirectoryNotifier:
    """Writes each message to ``folder`` as ``NNNNNN-<kind>.eml`` (numbered in the order
    they are sent, after what is there already), atomically: a reader never sees half
    a file."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        path = Path(folder)
        if path.exists() and not path.is_dir():
            raise InvalidInput(f"{str(path)!r} is a file; give a folder for the messages")
        path.mkdir(parents=True, exist_ok=True)
        self.folder = path

    def send(self, message: Message) -> None:
        taken = [int(m.group(1)) for m in map(_NUMBERED.match, os.listdir(self.folder)) if m]
        number = max(taken, default=0) + 1
        kind = re.sub(r"[^a-z0-9_]+", "_", message.kind.lower()) or "message"
        final = self.folder / f"{number:06d}-{kind}.eml"
        partial = final.with_suffix(".eml.part")
        partial.write_bytes(as_email(message).as_bytes())
        partial.replace(final)


_NUMBERED = re.compile(r"^(\d{6})-.*\.eml$")


class StreamNotifier:
    """Writes each message, headers then text, to ``stream`` (the command line's
    stderr), separated by a blank line; an HTML part is for a mail client, and is not
    written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(self, message: Message) -> None:
        self.stream.write(
            f"To: {', '.join(message.to)}\nSubject: {message.subject}\n\n{message.text}\n\n"
        )
        self.stream.flush()
