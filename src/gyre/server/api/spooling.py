"""A request's body spooled to a temporary file (streamed, never held in memory whole), and
the file removed when the route is done with it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Request


@asynccontextmanager
async def spooled_body(request: Request) -> AsyncIterator[Path]:
    """The body in ``<scratch>/upload``; the scratch folder is the route's to use until the
    block ends, then removed."""
    scratch = Path(tempfile.mkdtemp(prefix="gyre-upload-"))
    try:
        path = scratch / "upload"
        with path.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        yield path
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
