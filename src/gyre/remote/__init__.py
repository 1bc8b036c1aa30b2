"""Client mode: the SDK and the CLI speaking to a team server (``GYRE_URI=https://...``).

:mod:`gyre.remote.client` sends requests and turns the server's error envelope back into the
same :class:`~gyre.errors.GyreError` classes an embedded workspace raises;
:mod:`gyre.remote.credentials` keeps the tokens ``gyre login`` saved.
"""
