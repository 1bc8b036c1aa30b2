"""Data preparation as a script (the talk's parse.py): --source_path IMAGES --target_path OUT."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
import training

parser = argparse.ArgumentParser()
parser.add_argument("--source_path", required=True)
parser.add_argument("--target_path", required=True)
args = parser.parse_args()
training.prepare(Path(args.source_path), Path(args.target_path))
