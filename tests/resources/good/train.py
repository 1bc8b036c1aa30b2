import argparse
from pathlib import Path

import gyre

parser = argparse.ArgumentParser()
parser.add_argument("--source_path")
parser.add_argument("--epochs", type=int)
parser.add_argument("--target_path")
args = parser.parse_args()
rows = Path(args.source_path, "rows.txt").read_text().split()
for epoch in range(args.epochs):
    gyre.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
Path(args.target_path, "model.txt").write_text(f"{len(rows)} rows, {args.epochs} epochs")
print("trained")
