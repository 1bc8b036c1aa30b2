"""Where a command's operations run: on the workspace itself, or through a team server.

``backend()`` is :class:`~gyre.cli.backends.direct.Direct` (the capability functions on the
workspace ``GYRE_URI`` names) or, when ``GYRE_URI`` is an ``http(s)://`` URL,
:class:`~gyre.cli.backends.server.Server` (the same operations over the REST API, with the
caller's token). Both return the same records, so a command prints the same either way; the
rules (roles, audit) run where the workspace is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gyre.cli.backends.direct import Direct
    from gyre.cli.backends.server import Server


def backend() -> Direct | Server:
    from gyre import config

    url = config.server_url()
    if url is None:
        from gyre.cli.backends.direct import Direct

        return Direct()
    from gyre.cli.backends.server import Server

    return Server(url)
