"""onnxruntime's in-process latency for the ONNX benchmark (tests/benches/onnx.rs): runs a
model on the first ROWS digits rows ITERATIONS times with THREADS intra-op threads and prints
the p50 and p99 in microseconds as JSON.

    python onnx_bench.py MODEL.onnx DATA.csv ROWS ITERATIONS THREADS
"""

import csv
import json
import sys
import time

import numpy as np
import onnxruntime


def main():
    model, data = sys.argv[1], sys.argv[2]
    rows, iterations, threads = (int(v) for v in sys.argv[3:6])
    with open(data, newline="") as handle:
        body = list(csv.reader(handle))[1 : rows + 1]
    xs = np.array([[float(v) for v in r[:64]] for r in body], dtype=np.float32)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]
    shape = [-1] + [int(d) for d in graph_input.shape[1:]]
    feed = {graph_input.name: xs.reshape(shape)}
    for _ in range(max(iterations // 10, 10)):
        session.run(None, feed)
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - started) * 1e6)
    times.sort()
    print(json.dumps({"p50": times[len(times) // 2], "p99": times[int((len(times) - 1) * 0.99)]}))


if __name__ == "__main__":
    main()
