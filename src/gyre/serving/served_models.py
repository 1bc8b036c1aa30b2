"""The model versions one server holds (the release capability routes traffic between them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from gyre.errors import NotFound
from gyre.registry.models import LoadedModel
from gyre.serving import tensor_codec
from gyre.serving.batching import Lane
from gyre.serving.payloads import RecordsDecoder, numeric_signature
from gyre.serving.traffic import TrafficSplit

BATCHING_FLAVORS = ("sklearn", "torch", "onnx")


@dataclass
class ServedModel:
    loaded: LoadedModel
    batcher: Lane | None = None  # its way into its model's micro-batcher
    in_flight: int = 0  # requests routed to it that have not been predicted yet

    @property
    def name(self) -> str:
        return self.loaded.record.name

    @property
    def version(self) -> int:
        return self.loaded.record.version

    @property
    def flavor(self) -> str:
        return self.loaded.record.flavor

    @cached_property
    def takes_arrays(self) -> bool:
        """Records are validated into one float array (all inputs numeric columns)."""
        return self.flavor in BATCHING_FLAVORS and numeric_signature(self.loaded.signature)

    @cached_property
    def columns(self) -> str:
        """The input names, comma-separated (as the journal records them); empty when a name
        holds a comma (its requests are journaled as JSON then)."""
        names = [i["name"] for i in (self.loaded.signature or {}).get("inputs", [])]
        return "" if any("," in name for name in names) else ",".join(names)

    @cached_property
    def output_name(self) -> str:
        """The name of the model's output tensor (Open Inference Protocol)."""
        outputs = (self.loaded.signature or {}).get("outputs") or [{}]
        return str(outputs[0].get("name", "output"))

    @cached_property
    def output_spec(self) -> dict[str, Any]:
        """The output as the metadata declares it: the signature's, or, for a model registered
        without one, the datatype it predicts for a row of zeros."""
        outputs = (self.loaded.signature or {}).get("outputs")
        if outputs:
            return dict(outputs[0])
        return {"name": self.output_name, "datatype": self._probe_datatype(), "shape": [-1]}

    def _probe_datatype(self) -> str:
        specs = (self.loaded.signature or {}).get("inputs") or []
        try:
            if self.takes_arrays:
                sample = np.zeros((1, len(specs)))
            elif len(specs) == 1 and specs[0].get("shape"):
                dims = [d if d > 0 else 1 for d in specs[0]["shape"][1:]]
                sample = np.zeros([1, *dims], dtype=specs[0]["type"])
            else:
                return "BYTES"
            return tensor_codec.datatype_of(np.asarray(self.loaded.predict(sample)))
        except Exception:  # the model cannot take zeros: its outputs stay undeclared bytes
            return "BYTES"

    @cached_property
    def records_decoder(self) -> RecordsDecoder | None:
        return RecordsDecoder(self.loaded.signature or {}) if self.takes_arrays else None


@dataclass
class Models:
    """The versions this server holds. A name's default version is the first registered,
    unless a traffic split routes its requests (an endpoint's versions): then each request
    without a version goes to the split's pick, and the default is its heaviest version. An
    endpoint's name is an alias of its model's; its shadow version gets a copy of each request.
    """

    by_version: dict[tuple[str, int], ServedModel] = field(default_factory=dict)
    default: dict[str, int] = field(default_factory=dict)
    splits: dict[str, TrafficSplit] = field(default_factory=dict)
    shadows: dict[str, ServedModel] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def add(self, served: ServedModel) -> None:
        self.by_version[(served.name, served.version)] = served
        self.default.setdefault(served.name, served.version)

    def remove(self, name: str, version: int) -> ServedModel | None:
        """Stop routing to a version (requests already routed to it finish)."""
        return self.by_version.pop((name, version), None)

    def route_by(self, name: str, split: TrafficSplit) -> None:
        """Route ``name``'s requests by ``split``; every version in it must be held."""
        missing = [v for v in split.weights if (name, v) not in self.by_version]
        if missing:
            raise NotFound(f"model {name!r} version(s) {missing} are not loaded here")
        self.splits[name] = split
        self.default[name] = split.heaviest

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The version asked for, or the name's default (metadata routes)."""
        name = self.aliases.get(name, name)
        if name not in self.default:
            raise NotFound(
                f"no model named {name!r} here; serving {', '.join(sorted(self.default))}"
            )
        number = self.default[name] if version is None else _as_int(version)
        served = self.by_version.get((name, number))
        shadow = self.shadows.get(name)
        if served is None and shadow is not None and shadow.version == number:
            return shadow  # asked for by its number (a release's checks reach it this way)
        if served is None:
            have = sorted(v for n, v in self.by_version if n == name)
            raise NotFound(f"model {name!r} has no version {version} here; serving {have}")
        return served

    def route(self, name: str | None, version: str | None = None) -> ServedModel:
        """The version that answers a scoring request: the one asked for, or the split's pick
        (or the only model's default when the request names none)."""
        if name is None:
            if len(self.default) != 1:
                raise NotFound("this server holds several models: POST /score/{name}")
            name = next(iter(self.default))
        name = self.aliases.get(name, name)
        split = self.splits.get(name)
        if version is None and split is not None:
            return self.by_version[(name, split.pick())]
        return self.get(name, version)


def _as_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise NotFound(f"version {text!r} is not a number") from None
