"""Drives a Slipway deployment with the Triton HTTP client (tritonclient[http]), as a team
already using Triton or KServe would: health, model readiness and metadata, then the same
rows inferred in JSON, with binary inputs and outputs, and from a named version, then a
request with a bad shape. Prints one JSON object of what it saw; the Rust test asserts on it.

Usage: oip_triton.py HOST:PORT MODEL VERSION ROWS_JSON (token in SLIPWAY_TOKEN)
"""

import json
import os
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def labels_of(result):
    # Binary BYTES come back as bytes, JSON ones as str.
    return [
        label.decode("utf-8") if isinstance(label, bytes) else str(label)
        for label in result.as_numpy("label").reshape(-1)
    ]


def main():
    url, model, version, rows_path = sys.argv[1:5]
    headers = {"Authorization": "Bearer " + os.environ["SLIPWAY_TOKEN"]}
    with open(rows_path, encoding="utf-8") as f:
        rows = np.array(json.load(f), dtype=np.float32)
    client = httpclient.InferenceServerClient(url=url)
    seen = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model, headers=headers),
        "version_ready": client.is_model_ready(model, model_version=version, headers=headers),
        "other_version_ready": client.is_model_ready(model, model_version="999", headers=headers),
        "server_metadata": client.get_server_metadata(headers=headers),
        "metadata": client.get_model_metadata(model, headers=headers),
        "version_metadata": client.get_model_metadata(
            model, model_version=version, headers=headers
        ),
    }

    # JSON both ways: data in the request, outputs asked for as JSON.
    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=False)
    outputs = [
        httpclient.InferRequestedOutput("label", binary_data=False),
        httpclient.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = client.infer(model, [tensor], outputs=outputs, request_id="json-1", headers=headers)
    seen["json_labels"] = labels_of(result)
    seen["json_id"] = result.get_response()["id"]
    seen["json_probabilities_shape"] = list(result.as_numpy("probabilities").shape)

    # Binary both ways: the client's default (no outputs named: all of them binary).
    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=True)
    result = client.infer(model, [tensor], request_id="binary-1", headers=headers)
    seen["binary_labels"] = labels_of(result)
    seen["binary_id"] = result.get_response()["id"]
    probabilities = result.as_numpy("probabilities")
    seen["binary_probabilities_shape"] = list(probabilities.shape)
    seen["binary_row_sums"] = [round(float(s), 3) for s in probabilities.reshape(len(rows), -1).sum(axis=1)]
    seen["binary_output_parameters"] = [
        output.get("parameters", {}) for output in result.get_response()["outputs"]
    ]

    # One output only, binary, from the named version.
    only = [httpclient.InferRequestedOutput("label", binary_data=True)]
    result = client.infer(model, [tensor], outputs=only, model_version=version, headers=headers)
    seen["version_labels"] = labels_of(result)
    seen["version_outputs"] = [output["name"] for output in result.get_response()["outputs"]]
    seen["version_answered"] = result.get_response()["model_version"]

    # A version the deployment does not serve, and rows of the wrong width.
    try:
        client.infer(model, [tensor], model_version="999", headers=headers)
        seen["missing_version_error"] = None
    except InferenceServerException as err:
        seen["missing_version_error"] = str(err)
    narrow = rows[:, :-1].copy()
    bad = httpclient.InferInput("input-0", list(narrow.shape), "FP32")
    bad.set_data_from_numpy(narrow, binary_data=True)
    try:
        client.infer(model, [bad], headers=headers)
        seen["bad_shape_error"] = None
    except InferenceServerException as err:
        seen["bad_shape_error"] = str(err)
        seen["bad_shape_status"] = err.status()

    # Without the token: refused in the protocol's shape, which the client reads.
    try:
        client.get_model_metadata(model)
        seen["unauthenticated_error"] = None
    except InferenceServerException as err:
        seen["unauthenticated_error"] = str(err)

    print(json.dumps(seen))


if __name__ == "__main__":
    main()
