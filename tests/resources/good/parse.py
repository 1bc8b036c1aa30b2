import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--target_path")
args = parser.parse_args()
out = Path(args.target_path)
(out / "rows.txt").write_text("\n".join(str(i) for i in range(10)))
print("parsed 10 rows")
