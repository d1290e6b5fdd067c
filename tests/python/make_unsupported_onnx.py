"""Makes tests/fixtures/onnx/digits_cnn_lppool.onnx, the fixture of a refused import: the digits
CNN (digits_cnn.onnx, exported by export_onnx.py) with its two 2x2 max pools swapped for L2
pools (LpPool, p=2), a standard ONNX operator that Slipway's runtime (tract) does not run. The
graph is otherwise valid (the ONNX checker passes it), so only the operator makes it refused.

Run (needs onnx; the version that made the committed file is in tests/fixtures/onnx/VERSIONS):
    python tests/python/make_unsupported_onnx.py tests/fixtures/onnx
"""

import sys
from pathlib import Path

import onnx
from onnx import helper


def main(folder):
    folder = Path(folder)
    model = onnx.load(folder / "digits_cnn.onnx")
    nodes = []
    for node in model.graph.node:
        if node.op_type == "MaxPool":
            node = helper.make_node(
                "LpPool",
                list(node.input),
                list(node.output),
                name=node.name.replace("MaxPool", "LpPool"),
                kernel_shape=[2, 2],
                strides=[2, 2],
                p=2,
            )
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, folder / "digits_cnn_lppool.onnx")


if __name__ == "__main__":
    main(*sys.argv[1:])
