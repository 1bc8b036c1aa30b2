"""Seer's sample data, made from real images that a package ships (nothing is downloaded).

scikit-learn ships 1,797 scans of handwritten digits (8x8, 16 grey levels). They stand in for
the talk's product photos: each is upscaled to 28x28 and saved as a PNG in a folder named after
its class. Three folders come out:

- ``v1``: biased, as the talk's first dataset was: class ``3`` is nearly absent (3 images)
  and class ``1`` is over-represented (each image three times);
- ``v2``: balanced, every training image once;
- ``test``: held-out images of every class (20%), never trained on (the talk's test-images).

Any folder of your own photos in the same ``<label>/*.png`` layout works the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

RARE_CLASS = "3"
RARE_KEEP = 3
SKEWED_CLASS = "1"
SKEW_COPIES = 3
TEST_FRACTION = 0.2


def make(out: Path, *, per_class: int | None = None, seed: int = 0) -> dict[str, Path]:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    folders = {name: out / name for name in ("v1", "v2", "test")}
    for label in range(10):
        members = np.flatnonzero(digits.target == label)
        rng.shuffle(members)
        if per_class:
            members = members[:per_class]
        cut = round(len(members) * TEST_FRACTION)
        splits = {"test": members[:cut], "v2": members[cut:]}
        name = str(label)
        if name == RARE_CLASS:
            splits["v1"] = members[cut : cut + RARE_KEEP]
        elif name == SKEWED_CLASS:
            splits["v1"] = np.repeat(members[cut:], SKEW_COPIES)
        else:
            splits["v1"] = members[cut:]
        for split, indices in splits.items():
            folder = folders[split] / name
            folder.mkdir(parents=True, exist_ok=True)
            for copy, index in enumerate(indices):
                pixels = (digits.images[index] * (255 / 16)).astype("uint8")
                image = Image.fromarray(pixels, mode="L").resize(
                    (28, 28), Image.Resampling.BILINEAR
                )
                image.save(folder / f"{index:04d}-{copy}.png")
    return folders


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, help="Use at most this many images per class.")
    args = parser.parse_args()
    for name, folder in make(args.out, per_class=args.per_class).items():
        print(f"{name}: {sum(1 for _ in folder.rglob('*.png'))} images in {folder}")
