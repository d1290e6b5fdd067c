"""The digits MLP (64-128-64-10) in PyTorch on the CPU, doing the same work as
`jobs/benches/training.rs` does through slipway-ml (candle), for a side-by-side comparison.

Training mirrors `slipway_ml::train::train` with `TrainConfig::default()` apart from the
architecture, batch 64 and a fixed epoch count: the same stratified 65/15/20 split (the same
SplitMix64 generator and seed, so the very same rows), standardisation fitted on the training
split, weights drawn from U(±1/sqrt(fan_in)), AdamW (lr 0.005, weight decay 1e-4, betas 0.9 and
0.999, eps 1e-8), a reshuffle each epoch, the batch loss read back every batch, a validation
pass (loss and accuracy) after every epoch with a copy of the best weights, a final test pass
and the weights serialised to bytes. samples/s = training rows x epochs / wall time of that
whole run: one warm-up run, then BENCH_REPEATS timed runs.

Inference mirrors `Engine::predict`: rows given as lists of floats, checked to be finite,
standardised, the forward pass under torch.no_grad() in eval mode, softmax, and each row's
label with its labelled probabilities; p50 and p99 over BENCH_CALLS calls for 1 row and for
64 rows.

Prints a table, then one `BENCH_JSON {...}` line with the same keys as the Rust benchmark.
Knobs: BENCH_EPOCHS (30), BENCH_REPEATS (7), BENCH_CALLS (2000), BENCH_THREADS (the cores).
"""

import copy
import csv
import io
import json
import os
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

MASK = (1 << 64) - 1
# TrainConfig::default() in jobs/src/train.rs.
LEARNING_RATE = 0.005
WEIGHT_DECAY = 1e-4
SEED = 7
VALIDATION_FRACTION = 0.15
TEST_FRACTION = 0.2
BATCH_SIZE = 64
HIDDEN = (128, 64)


def knob(name, default):
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


class SplitMix64:
    """The generator of jobs/src/split.rs, so the split is the same rows as the Rust one."""

    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.next() % (i + 1)
            items[i], items[j] = items[j], items[i]


def load_digits(path):
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader)]
        label_index = header.index("label")
        features, raw_labels = [], []
        for record in reader:
            raw_labels.append(record[label_index].strip())
            features.append(
                [float(v) for i, v in enumerate(record) if i != label_index]
            )
    classes = sorted(set(raw_labels), key=float)
    labels = [classes.index(v) for v in raw_labels]
    names = [name for i, name in enumerate(header) if i != label_index]
    return names, features, labels, classes


def stratified_split(labels, classes, validation, test, seed):
    rng = SplitMix64(seed)
    train, val, tst = [], [], []
    for c in range(len(classes)):
        group = [row for row, label in enumerate(labels) if label == c]
        rng.shuffle(group)
        n = len(group)
        # Rust's f64::round rounds halves away from zero; Python's round() would not.
        test_count = min(int(n * test + 0.5), n)
        validation_count = int(n * validation + 0.5)
        tst.extend(group[:test_count])
        rest = group[test_count:]
        val.extend(rest[: min(validation_count, len(rest))])
        train.extend(rest[min(validation_count, len(rest)) :])
    return sorted(train), sorted(val), sorted(tst)


def build_model(inputs, outputs):
    sizes = [inputs, *HIDDEN, outputs]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))  # U(±1/sqrt(fan_in)) weights and biases
        if i + 2 < len(sizes):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def evaluate(model, xs, ys):
    with torch.no_grad():
        output = model(xs)
        loss = F.cross_entropy(output, ys).item()
        correct = (output.argmax(dim=-1) == ys).float().sum().item()
    return loss, correct / ys.shape[0]


def train(features, labels, classes, split, epochs):
    """One training run, as `slipway_ml::train::train` does it."""
    train_idx, val_idx, test_idx = split
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED ^ 0x5EED)
    all_x = torch.tensor(features, dtype=torch.float64)
    all_y = torch.tensor(labels, dtype=torch.int64)
    train_rows = all_x[train_idx]
    mean = train_rows.mean(dim=0)
    std = train_rows.std(dim=0, unbiased=False)
    std = torch.where(std.pow(2) > 1e-12, std, torch.ones_like(std))

    def part(indices):
        return ((all_x[indices] - mean) / std).float(), all_y[indices]

    train_x, train_y = part(train_idx)
    val_x, val_y = part(val_idx)
    test_x, test_y = part(test_idx)

    model = build_model(train_x.shape[1], len(classes))
    optimiser = torch.optim.AdamW(
        model.parameters(),
        lr=LEARNING_RATE,
        weight_decay=WEIGHT_DECAY,
        betas=(0.9, 0.999),
        eps=1e-8,
    )
    n = train_x.shape[0]
    best_loss, best_state, history = None, None, []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, n, BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            xs, ys = train_x[index], train_y[index]
            loss = F.cross_entropy(model(xs), ys)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item()
            batches += 1
        model.eval()
        val_loss, val_accuracy = evaluate(model, val_x, val_y)
        history.append((total / max(batches, 1), val_loss, val_accuracy))
        if best_loss is None or val_loss < best_loss:
            best_loss = val_loss
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    _, test_accuracy = evaluate(model, test_x, test_y)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return model, (mean, std), history, test_accuracy, buffer.getvalue()


class Engine:
    """What `Engine::predict` does, in PyTorch."""

    def __init__(self, model, normalisation, labels, width):
        self.model = model.eval()
        self.mean, self.std = normalisation
        self.labels = labels
        self.width = width

    def predict(self, rows):
        if not rows:
            raise ValueError("instances: expected at least one row")
        xs = torch.tensor(rows, dtype=torch.float64)
        if xs.shape[1] != self.width:
            raise ValueError("instances: wrong width")
        if not bool(torch.isfinite(xs).all()):
            raise ValueError("instances: expected finite numbers")
        xs = ((xs - self.mean) / self.std).float()
        with torch.no_grad():
            probabilities = torch.softmax(self.model(xs), dim=-1).tolist()
        predictions = []
        for row in probabilities:
            best = max(range(len(row)), key=row.__getitem__)
            predictions.append((self.labels[best], dict(zip(self.labels, row))))
        return predictions


def percentiles(samples_ns):
    samples = sorted(samples_ns)

    def at(percent):
        return samples[min(len(samples) * percent // 100, len(samples) - 1)] / 1e3

    return at(50), at(99)


def latency(engine, features, rows, calls):
    starts = len(features) - rows

    def batch(call):
        start = (call * rows) % starts
        return features[start : start + rows]

    for call in range(calls // 10):
        engine.predict(batch(call))
    samples = []
    for call in range(calls):
        rows_now = batch(call)
        started = time.perf_counter_ns()
        engine.predict(rows_now)
        samples.append(time.perf_counter_ns() - started)
    return percentiles(samples)


def main():
    epochs = knob("BENCH_EPOCHS", 30)
    repeats = knob("BENCH_REPEATS", 7)
    calls = knob("BENCH_CALLS", 2000)
    threads = knob("BENCH_THREADS", len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    names, features, labels, classes = load_digits(
        os.path.join(root, "datasets", "digits.csv")
    )
    split = stratified_split(labels, classes, VALIDATION_FRACTION, TEST_FRACTION, SEED)
    train_rows = len(split[0])

    result = train(features, labels, classes, split, epochs)  # warm-up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = train(features, labels, classes, split, epochs)
        seconds.append(time.perf_counter() - started)
    model, normalisation, history, test_accuracy, _weights = result
    epochs_run = len(history)
    samples = train_rows * epochs_run
    median_s = statistics.median_high(seconds)
    best_s = min(seconds)

    engine = Engine(model, normalisation, classes, len(names))
    one_p50, one_p99 = latency(engine, features, 1, calls)
    batch_p50, batch_p99 = latency(engine, features, 64, calls)

    print(
        f"PyTorch {torch.__version__} on the CPU ({torch.backends.cpu.get_cpu_capability()}), "
        f"{threads} threads: digits MLP 64-128-64-10, batch {BATCH_SIZE}, "
        f"{epochs_run} epochs x {train_rows} training rows, {repeats} timed runs"
    )
    print("| measurement | value |")
    print("| --- | --- |")
    print(f"| training (median) | {samples / median_s:.0f} samples/s ({median_s:.3f} s a run) |")
    print(f"| training (best) | {samples / best_s:.0f} samples/s ({best_s:.3f} s a run) |")
    print(f"| test accuracy | {test_accuracy:.4f} |")
    print(f"| predict 1 row | p50 {one_p50:.1f} µs, p99 {one_p99:.1f} µs |")
    print(f"| predict 64 rows | p50 {batch_p50:.1f} µs, p99 {batch_p99:.1f} µs |")
    record = {
        "impl": "pytorch",
        "version": torch.__version__,
        "threads": threads,
        "epochs": epochs_run,
        "batch_size": BATCH_SIZE,
        "train_rows": train_rows,
        "repeats": repeats,
        "train_seconds_median": median_s,
        "train_seconds_best": best_s,
        "samples_per_s_median": samples / median_s,
        "samples_per_s_best": samples / best_s,
        "test_accuracy": test_accuracy,
        "calls": calls,
        "predict_1_p50_us": one_p50,
        "predict_1_p99_us": one_p99,
        "predict_64_p50_us": batch_p50,
        "predict_64_p99_us": batch_p99,
    }
    print("BENCH_JSON " + json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
