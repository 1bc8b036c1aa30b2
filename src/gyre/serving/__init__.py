"""Scoring: an ASGI app speaking the Open Inference Protocol v2 and plain JSON, with metrics,
micro-batching and a data collector that turns what it scores into an inference dataset."""
