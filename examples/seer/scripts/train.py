"""Training as a script (the talk's train.py)."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
import training

parser = argparse.ArgumentParser()
parser.add_argument("--source_path", required=True)
parser.add_argument("--target_path", required=True)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--lr", type=float, default=0.001)
args = parser.parse_args()
training.train(Path(args.source_path), Path(args.target_path), args.epochs, args.batch, args.lr)
