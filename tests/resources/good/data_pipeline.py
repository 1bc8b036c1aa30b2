"""A pipeline that reads a dataset, a table and writes a dataset."""

import json

import gyre
from gyre import Dataset, Dir, step


@step
def count_classes(images: Dir) -> dict:
    counts = {p.name: len(list(p.iterdir())) for p in sorted(images.iterdir()) if p.is_dir()}
    print(json.dumps(counts))
    return counts


@step
def summarize(counts: dict, note: str = "") -> str:
    return f"{sum(counts.values())} images {note}"


@step
def mean_price(sales) -> float:  # a table arrives as a pyarrow Table
    import pyarrow.compute as pc

    return float(pc.mean(sales["price"]).as_py())


@step
def publish_counts(counts: dict) -> int:
    out = gyre.output_dir("counts")
    (out / "counts.json").write_text(json.dumps(counts))
    version = Dataset("class-counts").add(out)
    return version.version


@gyre.pipeline
def images_pipeline(images: Dataset = Dataset("products"), note: str = ""):
    counts = count_classes(images)
    summarize(counts, note=note)
    publish_counts(counts)


@gyre.pipeline
def table_pipeline(sales: Dataset = Dataset("sales")):
    mean_price(sales)
