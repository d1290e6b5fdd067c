"""Makes the ONNX fixtures of tests/fixtures/onnx/ the way a team outside Slipway would: trains
three PyTorch models on datasets/digits.csv and exports them with torch.onnx.export.

- digits_mlp.onnx: 64 raw pixels -> 64 -> 10 logits.
- digits_cnn.onnx: an 8x8 image (input [N, 1, 8, 8]) -> two 3x3 convolutions -> 10 logits.
- digits_transformer.onnx: the 64 pixels as a sequence of 64 tokens -> one encoder layer
  (two attention heads, layer norm written out) -> mean over tokens -> 10 logits.
- digits_transformer_layernorm.onnx: the same encoder with torch.nn.LayerNorm, which the
  exporter writes as one LayerNormalization node (opset 17+), which the runtime runs.

The fixture of a refused import (an operator the runtime lacks), digits_cnn_lppool.onnx, is made
from digits_cnn.onnx by make_unsupported_onnx.py.
- corrupt.onnx: the MLP file cut in half.

Every model reads raw pixels (0..16) and scales them itself, so rows go in as the CSV has them.
The exact versions that made the committed files are in tests/fixtures/onnx/VERSIONS.

Run (needs torch, onnx, onnxscript; not needed by the tests):
    python tests/python/export_onnx.py datasets/digits.csv tests/fixtures/onnx
"""

import csv
import math
import sys
from pathlib import Path

import torch
from torch import nn


def load(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    label = header.index("label")
    xs = [[float(v) for i, v in enumerate(r) if i != label] for r in body]
    ys = [int(r[label]) for r in body]
    return torch.tensor(xs, dtype=torch.float32), torch.tensor(ys)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, pixels):
        return self.net(pixels / 16.0)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 2 * 2, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, image):
        return self.head(self.features(image / 16.0))


class WrittenLayerNorm(nn.Module):
    """Layer norm as elementwise operations, so the export needs no LayerNormalization node."""

    def __init__(self, width):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, xs):
        mean = xs.mean(dim=-1, keepdim=True)
        centred = xs - mean
        variance = (centred * centred).mean(dim=-1, keepdim=True)
        return centred / torch.sqrt(variance + 1e-5) * self.weight + self.bias


class Encoder(nn.Module):
    def __init__(self, width=16, heads=2, written_norm=True):
        super().__init__()
        norm = (lambda: WrittenLayerNorm(width)) if written_norm else (lambda: nn.LayerNorm(width))
        self.width, self.heads = width, heads
        self.embed = nn.Linear(1, width)
        self.position = nn.Parameter(torch.randn(64, width) * 0.1)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm1, self.norm2 = norm(), norm()
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width))
        self.head = nn.Linear(width, 10)

    def forward(self, pixels):
        n = pixels.shape[0]
        tokens = self.embed((pixels / 16.0).unsqueeze(-1)) + self.position
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        split = lambda t: t.reshape(n, 64, self.heads, self.width // self.heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.width // self.heads)
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, 64, self.width)
        tokens = self.norm1(tokens + self.out(attended))
        tokens = self.norm2(tokens + self.ff(tokens))
        return self.head(tokens.mean(dim=1))


def train(model, xs, ys, epochs, shape=None):
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs = xs if shape is None else xs.reshape(shape)
    for _ in range(epochs):
        order = torch.randperm(len(xs))
        for start in range(0, len(xs), 64):
            batch = order[start : start + 64]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(inputs[batch]), ys[batch])
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(inputs).argmax(dim=1) == ys).float().mean().item()
    return accuracy


def export(model, example, path, input_name):
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=[input_name],
        output_names=["logits"],
        dynamic_axes={input_name: {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def main():
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    xs, ys = load(data)
    torch.manual_seed(0)
    mlp = Mlp()
    print("mlp accuracy", train(mlp, xs, ys, 30))
    export(mlp, xs[:2], out / "digits_mlp.onnx", "pixels")
    torch.manual_seed(0)
    cnn = Cnn()
    print("cnn accuracy", train(cnn, xs, ys, 20, shape=(-1, 1, 8, 8)))
    export(cnn, xs[:2].reshape(-1, 1, 8, 8), out / "digits_cnn.onnx", "image")
    torch.manual_seed(0)
    encoder = Encoder()
    print("transformer accuracy", train(encoder, xs, ys, 15))
    export(encoder, xs[:2], out / "digits_transformer.onnx", "pixels")
    torch.manual_seed(0)
    layernorm = Encoder(written_norm=False)
    layernorm.eval()
    export(layernorm, xs[:2], out / "digits_transformer_layernorm.onnx", "pixels")
    whole = (out / "digits_mlp.onnx").read_bytes()
    (out / "corrupt.onnx").write_bytes(whole[: len(whole) // 2])
    import onnx

    with open(out / "VERSIONS", "w") as versions:
        versions.write(f"torch=={torch.__version__}\nonnx=={onnx.__version__}\n")
        versions.write("exporter: torch.onnx.export(dynamo=False, opset_version=17)\n")


if __name__ == "__main__":
    main()
