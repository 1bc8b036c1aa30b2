"""The model registry: versions with flavor, signature, metrics and lineage; aliases; loading."""
