"""Storage: a local folder or Azure Blob Storage behind one small interface. Paths are `container/name`."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Protocol

from shared.errors import Conflict, InputRefused, NotFound

CHUNK_BYTES = 4 * 1024 * 1024
LANDING, REJECTED, ARCHIVE = "landing", "rejected", "archive"  # the containers of files to load and of processed ones
# A writer still at work uses a name like these, and renames the file when it is complete.
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", "~")


class StorageError(NotFound):
    """A path that is not (or no longer) in storage, or cannot name a file there."""


class Storage(Protocol):
    def open_read(self, path: str, version: str | None = None) -> BinaryIO: ...  # seekable (Parquet reads its footer first)
    def fingerprint(self, path: str) -> str: ...  # a hash of the bytes themselves
    def open_write(self, path: str): ...  # context manager yielding a binary writer; visible only on success
    def list(self, prefix: str) -> Iterator[str]: ...
    def versions(self, prefix: str) -> Iterator[tuple[str, str]]: ...  # (path, version) of each file listed
    def version(self, path: str) -> str | None: ...  # changes whenever the content may have; None: no such file
    def exists(self, path: str) -> bool: ...
    def size(self, path: str) -> int: ...
    def delete(self, path: str) -> None: ...
    def move(self, source: str, target: str, version: str | None = None) -> None: ...  # only that version
    def holds_copy_of(self, target: str, version: str) -> bool: ...  # target is a move's copy of that version
    def stage_block(self, path: str, upload: str, index: int, data: bytes) -> None: ...  # one block of an upload to path
    def commit_blocks(self, path: str, upload: str, blocks: int, size: int) -> None: ...  # path appears whole, or not at all
    def describe(self) -> str: ...


def open_storage(location: str) -> Storage:
    """A local folder path, an Azure connection string, or a blob account URL (managed identity)."""
    if location.startswith(("https://", "http://")) or "AccountName=" in location or "UseDevelopmentStorage" in location:
        return BlobStorage(location)
    return LocalStorage(Path(location))


def content_hash(stream: BinaryIO, copy_to: BinaryIO | None = None) -> str:
    """A hash of the bytes, read as a stream, so the same content under any name is recognised; the bytes
    are also written to `copy_to` when given (one read both fingerprints and spools a blob)."""
    digest = hashlib.sha256()
    while block := stream.read(CHUNK_BYTES):
        digest.update(block)
        if copy_to is not None:
            copy_to.write(block)
    return f"sha256:{digest.hexdigest()}"


def is_temporary(path: str) -> bool:
    """A name a writer uses while the file is incomplete: any part starting with `.`, or a temporary suffix."""
    parts = path.strip("/").split("/")
    return any(part.startswith(".") for part in parts) or parts[-1].lower().endswith(TEMPORARY_SUFFIXES)


class Changed(StorageError):
    """The file changed, or another run moved it, since the version this run read."""


UPLOADS = ".uploads"  # local staging of uploads and of files being written, beside the containers: a leading dot is never a container name
UPLOAD_EXPIRY_SECONDS = 7 * 24 * 3600  # Blob Storage drops uncommitted blocks after 7 days; the local folder does the same


def block_id(index: int) -> str:
    """Every block ID of one blob has the same length (Put Block); the SDK base64-encodes it."""
    return f"{index:08d}"


def check_blocks(staged: dict[str, int], blocks: int, size: int) -> None:
    """The staged blocks (ID -> bytes) hold blocks 0..blocks-1 and add up to size, or InputRefused says what is not."""
    missing = [index for index in range(blocks) if block_id(index) not in staged]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise InputRefused(
            f"{len(missing)} of {blocks} blocks were never received (block {shown}); send them, then commit again", code="upload-incomplete"
        )
    total = sum(staged[block_id(index)] for index in range(blocks))
    if total != size:
        raise InputRefused(f"the {blocks} blocks hold {total} bytes, not the {size} the commit names", code="upload-incomplete")


def split(path: str) -> tuple[str, str]:
    container, _, name = path.strip("/").partition("/")
    if not container or not name:
        raise StorageError(f"{path!r} is not a container/name path")
    return container, name


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    def _file(self, path: str) -> Path:
        container, name = split(path)
        file = (self.root / container / name).resolve()
        if self.root.resolve() not in file.parents:
            raise StorageError(f"{path!r} leaves the storage folder")
        return file

    def open_read(self, path: str, version: str | None = None) -> BinaryIO:
        if version is not None and self.version(path) != version:
            raise Changed(f"{path} was replaced after it was listed")
        try:
            return self._file(path).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise StorageError(f"{path} does not exist in {self.describe()}") from None

    def fingerprint(self, path: str) -> str:
        with self.open_read(path) as stream:
            return content_hash(stream)

    @contextmanager
    def open_write(self, path: str):
        """Written under the staging folder and renamed into place: a writer killed midway leaves its part there,
        never in a container (as a blob's uncommitted blocks are invisible), and it expires like an upload."""
        file = self._file(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        staging = self.root / UPLOADS
        staging.mkdir(exist_ok=True)
        self._expire_uploads()
        handle, temp = tempfile.mkstemp(dir=staging, prefix=".partial-")
        try:
            os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp makes 0600; a written file is as open() would make it
            with os.fdopen(handle, "wb") as stream:
                yield stream
            os.replace(temp, file)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def list(self, prefix: str) -> Iterator[str]:
        container, _, rest = prefix.strip("/").partition("/")
        base = self.root / container
        if not base.is_dir():
            return
        for file in sorted(base.rglob("*")):
            name = file.relative_to(base).as_posix()
            if file.is_file() and name.startswith(rest):
                yield f"{container}/{name}"

    def versions(self, prefix: str) -> Iterator[tuple[str, str]]:
        for path in self.list(prefix):
            if (version := self.version(path)) is not None:
                yield path, version

    def version(self, path: str) -> str | None:
        try:
            stat = self._file(path).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def size(self, path: str) -> int:
        return self._file(path).stat().st_size

    def delete(self, path: str) -> None:
        self._file(path).unlink(missing_ok=True)

    def move(self, source: str, target: str, version: str | None = None) -> None:
        destination = self._file(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        current = self.version(source)
        if current is None:
            raise Changed(f"{source} is no longer in {self.describe()}: another run moved it, or it was removed")
        if version is not None and current != version:
            raise Changed(f"{source} was replaced after it was read; the new file stays for its own run")
        try:
            os.rename(self._file(source), destination)  # atomic: of two runs moving it, one wins
        except FileNotFoundError:
            raise Changed(f"{source} is no longer in {self.describe()}: another run moved it") from None

    def holds_copy_of(self, target: str, version: str) -> bool:
        return False  # a local move is one rename: no copy is ever left behind

    def _staging(self, path: str, upload: str) -> Path:
        """The folder of one upload's parts: its id and its target path name it, so blocks sent for one path are
        never committed to another (Put Block stages them on the target blob, which does the same)."""
        if not upload.isalnum():
            raise StorageError(f"{upload[:40]!r} is not an upload id")
        return self.root / UPLOADS / f"{upload}.{hashlib.sha256(path.encode()).hexdigest()[:16]}"

    def stage_block(self, path: str, upload: str, index: int, data: bytes) -> None:
        """A part file per block, written under a temporary name and renamed: a block is there whole or not at all."""
        self._file(path)  # refuse a path outside the folder before anything is written
        folder = self._staging(path, upload)
        if not folder.is_dir():
            self._expire_uploads()
            folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=folder, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(temp, folder / block_id(index))
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def commit_blocks(self, path: str, upload: str, blocks: int, size: int) -> None:
        """The parts joined in order into one file beside them, then hard-linked to its name: the name appears
        complete and at once. Commits of one upload take turns (a lock on its folder): a second one finds the
        folder gone, even when the trigger has already moved the file on, and is told so instead of linking it again."""
        file, folder = self._file(path), self._staging(path, upload)
        with self._locked(folder) as waited_for_a_commit:
            if file.exists() or waited_for_a_commit:
                raise Conflict(f"{path} exists already: this upload was committed", code="already-committed")
            self._join(file, folder, blocks, size)

    def _join(self, file: Path, folder: Path, blocks: int, size: int) -> None:
        staged = {part.name: part.stat().st_size for part in folder.glob("[0-9]*")} if folder.is_dir() else {}
        check_blocks(staged, blocks, size)
        handle, temp = tempfile.mkstemp(dir=folder, prefix=".partial-")
        try:
            os.fchmod(handle, 0o666 & ~_UMASK)
            with os.fdopen(handle, "wb") as out:
                for index in range(blocks):
                    with (folder / block_id(index)).open("rb") as part:
                        shutil.copyfileobj(part, out)
            file.parent.mkdir(parents=True, exist_ok=True)
            os.link(temp, file)
        except FileExistsError:  # a file of that name came another way: never replaced
            raise Conflict(f"{file.name} exists already in landing/", code="already-committed") from None
        finally:
            Path(temp).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)  # under the lock: a commit waiting for it then finds no folder

    @staticmethod
    @contextmanager
    def _locked(folder: Path) -> Iterator[bool]:
        """An exclusive lock on the upload's folder while it lasts; True when the folder was removed while this waited
        for it (the other commit won). No folder (nothing staged) needs no lock."""
        try:
            handle = os.open(folder, os.O_RDONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield not folder.is_dir()
        finally:
            os.close(handle)

    def _expire_uploads(self) -> None:
        """Staged uploads and parts of writes untouched for a week are dropped, as Blob Storage drops uncommitted blocks."""
        cutoff = time.time() - UPLOAD_EXPIRY_SECONDS
        for staged in (self.root / UPLOADS).glob("*"):
            with suppress(OSError):  # another request expiring or committing it at the same moment
                if staged.lstat().st_mtime < cutoff:
                    shutil.rmtree(staged) if staged.is_dir() else staged.unlink()


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: set it back at once (at import, one thread)
    os.umask(mask)
    return mask


_UMASK = _umask()


class BlobStorage:
    def __init__(self, location: str):
        from azure.storage.blob import BlobServiceClient

        if location.startswith(("https://", "http://")):
            from azure.identity import DefaultAzureCredential

            self.service = BlobServiceClient(location, credential=DefaultAzureCredential())
        else:
            self.service = BlobServiceClient.from_connection_string(location)
        self._containers: set[str] = set()

    def describe(self) -> str:
        return f"blob account {self.service.account_name}"

    def _blob(self, path: str):
        container, name = split(path)
        return self.service.get_blob_client(container, name)

    def open_read(self, path: str, version: str | None = None) -> BinaryIO:
        """Reads of one version: a blob replaced while it is read fails with Changed, never mixes two contents."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._blob(path)
        try:
            properties = blob.get_blob_properties()
        except ResourceNotFoundError:
            raise StorageError(f"{path} does not exist in {self.describe()}") from None
        if version is not None and properties.etag != version:
            raise Changed(f"{path} was replaced after it was listed")
        return io.BufferedReader(_RangeStream(blob, path, properties.size, properties.etag), buffer_size=CHUNK_BYTES)

    def fingerprint(self, path: str) -> str:
        """A hash of the bytes read. Never the blob's Content-MD5: any client that uploads can set it to
        another file's hash, and the file would then be skipped as already loaded."""
        with self.open_read(path) as stream:
            return content_hash(stream)

    def open_write(self, path: str):
        return self._writer(path)

    @contextmanager
    def _writer(self, path: str, metadata: dict[str, str] | None = None):
        self._ensure_container(split(path)[0])
        writer = _BlockWriter(self._blob(path), metadata)
        yield writer
        writer.commit()

    def list(self, prefix: str) -> Iterator[str]:
        container, _, rest = prefix.strip("/").partition("/")
        client = self.service.get_container_client(container)
        if not client.exists():
            return
        for blob in client.list_blobs(name_starts_with=rest or None):
            yield f"{container}/{blob.name}"

    def versions(self, prefix: str) -> Iterator[tuple[str, str]]:
        container, _, rest = prefix.strip("/").partition("/")
        client = self.service.get_container_client(container)
        if not client.exists():
            return
        for blob in client.list_blobs(name_starts_with=rest or None):
            yield f"{container}/{blob.name}", blob.etag

    def version(self, path: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._blob(path).get_blob_properties().etag
        except ResourceNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return self._blob(path).exists()

    def size(self, path: str) -> int:
        return self._blob(path).get_blob_properties().size

    def delete(self, path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError):
            self._blob(path).delete_blob()

    def move(self, source: str, target: str, version: str | None = None) -> None:
        """Copy, then delete the source only if it is still the version copied: a blob replaced meanwhile
        stays for its own run, and of two runs moving one blob only one keeps its copy."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        current = self.version(source)
        if current is None or (version is not None and current != version):
            raise Changed(f"{source} changed or was moved by another run after it was read")
        try:
            # Stream through this process: works with any credential, including managed identity.
            with self.open_read(source, current) as stream, self._writer(target, {COPY_OF: _plain_etag(current)}) as out:
                shutil.copyfileobj(stream, out, CHUNK_BYTES)
        except StorageError:
            raise Changed(f"{source} changed or was moved by another run while it was copied") from None
        try:
            self._blob(source).delete_blob(etag=current, match_condition=MatchConditions.IfNotModified)
        except (ResourceNotFoundError, ResourceModifiedError):
            if self.version(source) is None:
                self.delete(target)  # another run moved it first: its copy is the one kept
                raise Changed(f"{source} was moved by another run") from None
            # Replaced after the copy: the copy is of the version this run processed; the new one stays.

    def holds_copy_of(self, target: str, version: str) -> bool:
        """A copy a move made of that version, left when the run was killed before it deleted the source."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            metadata = self._blob(target).get_blob_properties().metadata or {}
        except ResourceNotFoundError:
            return False
        return metadata.get(COPY_OF) == _plain_etag(version)

    def stage_block(self, path: str, upload: str, index: int, data: bytes) -> None:
        """Put Block on the target blob itself: uncommitted blocks are no part of a blob, so nothing is listed,
        read or announced (BlobCreated) until Put Block List. Each upload has a target name of its own."""
        self._ensure_container(split(path)[0])
        self._blob(path).stage_block(block_id(index), data, length=len(data))

    def commit_blocks(self, path: str, upload: str, blocks: int, size: int) -> None:
        """Put Block List of blocks 0..blocks-1, only if no blob has the name yet (If-None-Match: *)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.storage.blob import BlobBlock

        blob = self._blob(path)
        try:
            listed = blob.get_block_list("uncommitted")[1]
        except ResourceNotFoundError:  # no block was staged for this name (or they expired)
            listed = []
        if not listed and blob.exists():
            raise Conflict(f"{path} exists already: this upload was committed", code="already-committed")
        check_blocks({block.id: block.size for block in listed}, blocks, size)
        try:
            blob.commit_block_list(
                [BlobBlock(block_id=block_id(index)) for index in range(blocks)], match_condition=MatchConditions.IfMissing
            )
        except (ResourceExistsError, ResourceModifiedError):
            raise Conflict(f"{path} exists already: this upload was committed", code="already-committed") from None

    def _ensure_container(self, container: str) -> None:
        if container not in self._containers:
            from azure.core.exceptions import ResourceExistsError

            with suppress(ResourceExistsError):  # another run (or thread) created it first
                self.service.get_container_client(container).create_container()
            self._containers.add(container)


class _RangeStream(io.RawIOBase):
    """A seekable stream over one version of a blob that downloads only the ranges read."""

    def __init__(self, blob, path: str, size: int, etag: str):
        self._blob = blob
        self._path = path
        self._size = size
        self._etag = etag
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        length = min(len(buffer), self._size - self._position)
        if length <= 0:
            return 0
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            download = self._blob.download_blob(
                offset=self._position, length=length, etag=self._etag, match_condition=MatchConditions.IfNotModified
            )
            data = download.readall()
        except (ResourceModifiedError, ResourceNotFoundError):
            raise Changed(f"{self._path} was replaced or removed while it was read") from None
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


COPY_OF = "rowgate_copy_of"  # blob metadata of a move's copy: the ETag of the version copied


def _plain_etag(etag: str) -> str:
    return etag.strip('"')  # metadata values are plain header text


class _BlockWriter(io.RawIOBase):
    """Uploads as staged blocks of CHUNK_BYTES; the blob appears only when the block list commits."""

    def __init__(self, blob, metadata: dict[str, str] | None = None):
        self._blob = blob
        self._metadata = metadata
        self._buffer = bytearray()
        self._blocks: list = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._stage(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def _stage(self, block: bytes) -> None:
        from azure.storage.blob import BlobBlock

        block_id = uuid.uuid4().hex
        self._blob.stage_block(block_id, block)
        self._blocks.append(BlobBlock(block_id=block_id))

    def commit(self) -> None:
        if self._buffer or not self._blocks:
            self._stage(bytes(self._buffer))
            self._buffer.clear()
        self._blob.commit_block_list(self._blocks, metadata=self._metadata)
