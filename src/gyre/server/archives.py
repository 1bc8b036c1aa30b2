"""A folder sent as a tar, unpacked safely: regular files and folders only, inside the target."""

from __future__ import annotations

import tarfile
from pathlib import Path

from gyre.errors import InvalidParameter


def unpack_folder(archive: Path, target: Path) -> Path:
    """Unpack ``archive`` into ``target``; a link, a device, an absolute path or a ``..``
    member is refused (it could write outside the folder)."""
    target.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise InvalidParameter(
                        f"The folder's archive holds {member.name!r}, which is not a regular "
                        "file or folder; send files only.",
                        field="body",
                    )
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        if isinstance(exc, tarfile.FilterError):
            raise InvalidParameter(
                f"The folder's archive has a member outside the folder ({exc}).", field="body"
            ) from None
        raise InvalidParameter(
            f"With folder=true the body must be a tar of the folder's files: {exc}.",
            field="body",
        ) from None
    return target
