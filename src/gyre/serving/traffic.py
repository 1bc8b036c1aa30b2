"""A traffic split between model versions: which version answers the next request.

Smooth weighted round robin (the algorithm nginx uses for its upstreams): every pick adds each
version's weight to its running score, takes the version with the highest score and subtracts
the total from it. Over any run of ``sum(weights)`` requests each version answers exactly its
weight's share, interleaved rather than in bursts, and a version weighted 0 never answers.
"""

from __future__ import annotations

from gyre.errors import InvalidParameter


class TrafficSplit:
    def __init__(self, weights: dict[int, int]) -> None:
        live = {version: weight for version, weight in weights.items() if weight > 0}
        if not live:
            raise InvalidParameter(
                "A traffic split needs at least one version with a weight above 0 "
                "(e.g. 7=100, or 7=90 8=10).",
                field="traffic",
            )
        self.weights = dict(sorted(live.items()))
        self.total = sum(self.weights.values())
        self._scores = dict.fromkeys(self.weights, 0)

    def pick(self) -> int:
        scores = self._scores
        best = -1
        best_score = None
        for version, weight in self.weights.items():
            score = scores[version] + weight
            scores[version] = score
            if best_score is None or score > best_score:
                best, best_score = version, score
        scores[best] -= self.total
        return best

    @property
    def heaviest(self) -> int:
        """The version with the largest share (the lowest number among equals)."""
        return max(self.weights, key=lambda version: (self.weights[version], -version))
