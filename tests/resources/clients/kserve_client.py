"""KServe's own REST client against a gyre server: ``python kserve_client.py URL MODEL``.

Runs in its own virtual environment (KServe pins libraries gyre's lock moves past), reads the
model's inputs from the server's metadata, infers with JSON and with binary tensor data, and
prints one JSON line of what it got.
"""

import asyncio
import json
import sys

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


async def main(url: str, model: str) -> None:
    client = InferenceRESTClient(config=RESTConfig(protocol="v2", retries=1, timeout=30))
    ready = await client.is_server_ready(url)
    metadata = httpx.get(f"{url}/v2/models/{model}").json()
    columns = json.loads(sys.stdin.read())
    results = {"ready": ready}
    for binary in (False, True):
        inputs = []
        for spec in metadata["inputs"]:
            values = np.asarray(columns[spec["name"]])
            tensor = InferInput(spec["name"], list(values.shape), spec["datatype"])
            tensor.set_data_from_numpy(values, binary_data=binary)
            inputs.append(tensor)
        outputs = [RequestedOutput("output", {"binary_data": binary})]
        request = InferRequest(model, inputs, request_id=f"k-{binary}", request_outputs=outputs)
        response = await client.infer(url, request, model_name=model)
        results[f"binary={binary}"] = {
            "id": response.id,
            "output": response.outputs[0].as_numpy().tolist(),
        }
    try:
        stray = InferInput("petals", [1], "FP64")
        stray.set_data_from_numpy(np.ones(1), binary_data=False)
        await client.infer(url, InferRequest(model, [stray]), model_name=model)
    except httpx.HTTPStatusError as exc:
        results["refused"] = {"status": exc.response.status_code, "body": exc.response.json()}
    await client.close()
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
