"""The reference answers for an ONNX file: onnxruntime runs it on every row of a CSV (all
columns but the label, in order, reshaped to the graph's input) and prints, as JSON, each
row's class probabilities (softmax of the output when it holds logits) or value.

    python onnx_oracle.py MODEL.onnx DATA.csv LABEL_COLUMN [logits|probabilities|value]
"""

import csv
import json
import sys

import numpy as np
import onnxruntime


def main():
    model, data, label = sys.argv[1], sys.argv[2], sys.argv[3]
    kind = sys.argv[4] if len(sys.argv) > 4 else "logits"
    with open(data, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    keep = [i for i, name in enumerate(header) if name != label]
    xs = np.array([[float(r[i]) for i in keep] for r in body], dtype=np.float32)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]
    shape = [-1] + [int(d) for d in graph_input.shape[1:]]
    (out,) = session.run([session.get_outputs()[0].name], {graph_input.name: xs.reshape(shape)})
    out = out.reshape(len(xs), -1).astype(np.float64)
    if kind == "logits":
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        out = shifted / shifted.sum(axis=1, keepdims=True)
    if kind == "value":
        print(json.dumps({"values": out[:, 0].tolist()}))
    else:
        print(json.dumps({"probabilities": out.tolist()}))


if __name__ == "__main__":
    main()
