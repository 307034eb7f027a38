"""Files only SMS Desk's own user may read: the instance folder (secret key, database, broker data)
and an SQLite database kept elsewhere. Made private when created, and tightened at start-up on
installs made before they were."""
import logging
import os
import stat
from pathlib import Path

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
# SQLite creates a database's -wal and -shm with the database file's own mode
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")

log = logging.getLogger(__name__)


def make_private_folder(folder: Path) -> None:
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    tighten(folder, PRIVATE_FOLDER)


def write_private_file(path: Path, text: str) -> None:
    """Private from its first byte: a chmod after writing leaves a moment when others may read it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    tighten(path, PRIVATE_FILE)


def tighten(path: Path, mode: int) -> None:
    """Takes from group and others what `mode` does not give them; a missing path is left alone."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & stat.S_ISVTX:  # a shared folder such as /tmp, named as the instance folder by mistake
            log.warning("%s is a shared folder: SMS Desk leaves its mode alone", path)
        elif current & ~mode & 0o077:
            path.chmod(current & mode)
    except FileNotFoundError:
        pass
    except PermissionError:  # a file owned by another user (a mounted volume, say): its owner decides
        log.warning("cannot make %s private (not its owner)", path)


def tighten_sqlite_files(database: str) -> None:
    if database:  # "" is a temporary or in-memory database
        for suffix in SQLITE_COMPANIONS:
            tighten(Path(database + suffix), PRIVATE_FILE)
