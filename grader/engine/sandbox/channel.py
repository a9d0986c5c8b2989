"""The channel between the trusted process and a sandbox: length-prefixed frames on a socket.

Both sides use it: the trusted side (``backend.ProcessBackend``) sends requests and receives
replies, the sandbox (``student.serve``) the other way round.  Frames are sent without first
copying their parts into one buffer, and received straight into one.
"""

from __future__ import annotations

import socket
import struct
from typing import Final

from .. import transport

_FRAME = struct.Struct("<Q")

_SMALL: Final = 1 << 16  # parts below this size are joined before sending; larger ones go as they are
_IOV_MAX: Final = 512  # pieces per sendmsg (the system's limit is 1024 on Linux and macOS)
_PREALLOCATED: Final = 64 << 20  # a frame up to this size is received into one buffer of its size


def send_frame(channel: socket.socket, *parts: transport.Buffer) -> None:
    """One length-prefixed message made of ``parts``, sent without first copying them into one
    buffer: megabytes of a tensor go from its own memory to the socket."""
    views = [memoryview(part).cast("B") for part in parts]
    pieces: list[memoryview] = []
    small: list[memoryview] = [memoryview(_FRAME.pack(sum(len(v) for v in views)))]
    for view in views:
        if len(view) < _SMALL:
            small.append(view)
            continue
        pieces += [memoryview(b"".join(small)), view]
        small = []
    pieces.append(memoryview(b"".join(small)))
    while pieces:
        sent = channel.sendmsg(pieces[:_IOV_MAX])
        while pieces and sent >= len(pieces[0]):
            sent -= len(pieces.pop(0))
        if sent:
            pieces[0] = pieces[0][sent:]


def recv_frame(channel: socket.socket) -> bytearray:
    """One length-prefixed message; EOFError when the other side is gone."""
    header = _recv_exactly(channel, _FRAME.size)
    (length,) = _FRAME.unpack(header)
    if length > transport.MAX_BYTES + (1 << 20):
        raise EOFError("oversized frame")
    return _recv_exactly(channel, length)


def _recv_exactly(channel: socket.socket, size: int) -> bytearray:
    """``size`` bytes, read straight into one buffer.  A frame larger than _PREALLOCATED grows as
    its bytes arrive instead: a sandbox that announces a gigabyte and sends nothing costs nothing."""
    if size > _PREALLOCATED:
        return _recv_growing(channel, size)
    buffer = bytearray(size)
    view, received = memoryview(buffer), 0
    while received < size:
        count = channel.recv_into(view[received:])
        if not count:
            raise EOFError("the other side closed the channel")
        received += count
    return buffer


def _recv_growing(channel: socket.socket, size: int) -> bytearray:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = channel.recv(min(size - len(buffer), _PREALLOCATED))
        if not chunk:
            raise EOFError("the other side closed the channel")
        buffer += chunk
    return buffer
