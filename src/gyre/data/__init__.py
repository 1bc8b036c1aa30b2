"""Datastores and datasets: shared, versioned data with profiles and lineage."""
