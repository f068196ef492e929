"""A zip written as it is sent: each picture is read and handed to the response in turn, so a post's nine photos
never sit in memory together."""

import io
import logging
import shutil
import zipfile
from collections.abc import Iterable, Iterator

from django.core.exceptions import SuspiciousFileOperation

logger = logging.getLogger(__name__)


class _Sink(io.RawIOBase):
    """Where zipfile writes; what it wrote is taken out after each file. It cannot seek, so zipfile writes each
    entry's sizes after its data (a data descriptor), as streaming needs."""

    def __init__(self):
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_stream(files: Iterable[tuple[str, object]]) -> Iterator[bytes]:
    """The zip of (name in the archive, Django file) pairs, stored rather than deflated (photos are compressed
    already); a file missing from storage is left out."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        for name, file in files:
            try:
                with file.open("rb") as source, archive.open(name, "w") as entry:
                    shutil.copyfileobj(source, entry, 256 * 1024)
            except (OSError, SuspiciousFileOperation):
                logger.warning("Moments zip: %r is missing", getattr(file, "name", name))
            yield sink.take()
    yield sink.take()
