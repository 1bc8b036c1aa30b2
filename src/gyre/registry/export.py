"""``gyre model export``: a self-contained folder that scores without gyre or the workspace.

The folder holds the model's files, ``requirements.txt`` pinned to the versions of the
flavor's libraries installed here, and ``serve.py``: a small standard-library HTTP server with
``POST /score`` and ``GET /health`` (the talk's "embed the model in your own software" path).
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import metadata
from pathlib import Path

from gyre.errors import Conflict
from gyre.registry.models import MANIFEST, get, model_files
from gyre.store import Store

REQUIREMENTS = {
    "python": [],
    "sklearn": ["scikit-learn", "skops", "numpy", "scipy"],
    "torch": ["torch", "numpy"],
    "onnx": ["onnxruntime", "numpy"],
}

SERVER = '''"""Serve {ref} without gyre: python serve.py [--port 8080]. POST /score, GET /health."""

import argparse
import importlib.util
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL_DIR = HERE / "model"
MANIFEST = json.loads((MODEL_DIR / "gyre-model.json").read_text())


class BadInput(Exception):
    """Input the model cannot take: answered 400 with the message."""


def as_rows(rows, columns):
    """Records (in the signature's column order) or rows as one float array."""
    import numpy as np

    if rows and isinstance(rows[0], dict):
        names = columns or list(rows[0])
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise BadInput(f"record {{index}} is not an object of fields")
            missing = [n for n in names if n not in row]
            if missing:
                raise BadInput(
                    f"record {{index}} has no field {{missing[0]!r}}; the model needs "
                    + ", ".join(names)
                )
        rows = [[row[n] for n in names] for row in rows]
    try:
        array = np.asarray(rows, dtype=float)
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadInput(f"the rows are not all numbers of one shape: {{exc}}") from None
    if not np.isfinite(array).all():
        raise BadInput("the rows hold NaN or Infinity")
    return array


def load():
    flavor = MANIFEST["flavor"]
    if flavor == "python":
        os.environ["GYRE_MODEL_DIR"] = str(MODEL_DIR)
        sys.path.insert(0, str(MODEL_DIR))
        entry = MANIFEST.get("entry", "score.py")
        if ":" in entry:
            module_name, _, class_name = entry.partition(":")
            module = importlib.import_module(module_name)
            return getattr(module, class_name).load(MODEL_DIR).predict
        spec = importlib.util.spec_from_file_location("score", MODEL_DIR / entry)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.init()
        return module.run
    if flavor == "sklearn":
        import numpy as np
        import skops.io as sio

        file = MODEL_DIR / MANIFEST["file"]
        model = sio.load(file, trusted=sio.get_untrusted_types(file=file))
        columns = [i["name"] for i in (MANIFEST.get("signature") or {{}}).get("inputs", [])]

        def predict(rows):
            return model.predict(as_rows(rows, columns)).tolist()

        return predict
    if flavor == "torch":
        import numpy as np
        import torch

        module = torch.jit.load(str(MODEL_DIR / MANIFEST["file"]), map_location="cpu").eval()

        def predict(rows):
            array = as_rows(rows, None).astype(np.float32)
            with torch.no_grad():
                return module(torch.as_tensor(array)).numpy().tolist()

        return predict
    if flavor == "onnx":
        import numpy as np
        import onnxruntime

        session = onnxruntime.InferenceSession(str(MODEL_DIR / MANIFEST["file"]))
        name = session.get_inputs()[0].name

        def predict(rows):
            return session.run(None, {{name: as_rows(rows, None).astype(np.float32)}})[0].tolist()

        return predict
    raise SystemExit(f"unknown flavor {{flavor}}")


PREDICT = load()


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._send(200, {{"ready": True, "model": "{ref}"}})
        else:
            self._send(404, {{"error": "GET /health or POST /score"}})

    def do_POST(self):
        if self.path != "/score":
            return self._send(404, {{"error": "POST /score"}})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        except ValueError as exc:
            return self._send(400, {{"error": f"the body is not JSON: {{exc}}"}})
        try:
            if MANIFEST["flavor"] == "python":
                result = PREDICT(body)
            else:
                rows = body.get("records", body.get("inputs")) if isinstance(body, dict) else body
                rows = rows if isinstance(rows, list) else [body]
                if not rows:
                    raise BadInput('send a record, a list of records, or {{"records": [...]}}')
                result = PREDICT(rows)
        except BadInput as exc:
            return self._send(400, {{"error": str(exc)}})
        except Exception as exc:  # the model's error, reported to the caller
            return self._send(500, {{"error": f"{{type(exc).__name__}}: {{exc}}"}})
        self._send(200, {{"predictions": result, "model": "{ref}"}})

    def log_message(self, *_args):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"serving {ref} on http://{{args.host}}:{{args.port}}", flush=True)
    server.serve_forever()
'''


def pinned_requirements(flavor: str) -> list[str]:
    pins = []
    for package in REQUIREMENTS.get(flavor, []):
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pins.append(package)
    return pins


def export(store: Store, reference: str, dest: Path) -> Path:
    record = get(store, reference)
    if dest.exists() and any(dest.iterdir()):
        raise Conflict(f"{dest} is not empty; export into a new folder.")
    source = model_files(store, record)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest / "model", copy_function=shutil.copyfile)
    for folder, _dirs, _files in os.walk(dest / "model"):
        os.chmod(folder, 0o755)  # the export is the user's to change (the cache copy is not)
    requirements = pinned_requirements(record.flavor)
    (dest / "requirements.txt").write_text("".join(f"{line}\n" for line in requirements))
    (dest / "serve.py").write_text(SERVER.format(ref=record.ref))
    manifest = json.loads((dest / "model" / MANIFEST).read_text())
    (dest / "README.md").write_text(
        f"# {record.ref}\n\nExported from a gyre workspace ({record.flavor} flavor, "
        f"digest {record.digest[:12]}).\n\n"
        "    python -m venv .venv && .venv/bin/pip install -r requirements.txt\n"
        "    .venv/bin/python serve.py --port 8080\n"
        "    curl -X POST localhost:8080/score -d '...'\n\n"
        f"Inputs: {json.dumps((manifest.get('signature') or {}).get('inputs'))}\n"
    )
    return dest
