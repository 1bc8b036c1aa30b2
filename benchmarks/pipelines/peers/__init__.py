"""The tools of the pipeline benchmark, gyre first."""

from __future__ import annotations

from peers.base import Peer
from peers.dvc import DVC
from peers.gyre import Gyre
from peers.kedro import Kedro
from peers.metaflow import Metaflow
from peers.prefect import Prefect
from peers.zenml import ZenML

PEERS: tuple[Peer, ...] = (Gyre(), Metaflow(), ZenML(), Prefect(), DVC(), Kedro())
BY_NAME = {peer.name: peer for peer in PEERS}
