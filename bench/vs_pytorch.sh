#!/usr/bin/env bash
# Training throughput and inference latency of the digits MLP (64-128-64-10, batch 64) on the
# CPU: slipway-ml (candle) beside PyTorch doing the same work, in one run.
#
#   bash bench/vs_pytorch.sh
#
# The first run makes a virtual environment in bench/.venv (ignored by git; BENCH_VENV moves
# it) with CPU PyTorch from its own CPU-only index, or, where that index is out of reach, the
# regular PyPI wheel (which also pulls NVIDIA's CUDA libraries, a few GB; PyTorch runs on the
# CPU all the same). Knobs, passed to both sides: BENCH_EPOCHS (30), BENCH_REPEATS (7),
# BENCH_CALLS (2000); CARGO_TARGET_DIR as usual. Both sides use every core by default, so other
# work on the machine skews the medians (PyTorch's most); the verdict uses the best runs.
# candle 0.11.1 counts the physical cores afresh (parsing /proc/cpuinfo) on every matrix
# product unless RAYON_NUM_THREADS is set; the slipway binary sets it to the core count at
# start, so this script does the same (RAYON_NUM_THREADS= bash bench/vs_pytorch.sh shows the
# cost of leaving it unset).
set -euo pipefail
if [ -z "${RAYON_NUM_THREADS+set}" ]; then
  export RAYON_NUM_THREADS="$(nproc)"
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${BENCH_VENV:-$root/bench/.venv}"
python="$venv/bin/python"

if ! [ -x "$python" ] || ! "$python" -c 'import torch' 2>/dev/null; then
  echo "== installing PyTorch into $venv" >&2
  [ -x "$python" ] || python3 -m venv "$venv"
  if ! "$python" -m pip install --quiet --timeout 20 --retries 1 \
      --index-url https://download.pytorch.org/whl/cpu torch; then
    echo "== the CPU-only index is out of reach; installing torch from PyPI" >&2
    "$python" -m pip install --quiet torch
  fi
  # Only to keep torch from warning that NumPy is missing.
  "$python" -m pip install --quiet numpy
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== slipway-ml (candle)" >&2
cargo bench -p slipway-ml --bench training | tee "$out/candle.txt"
echo >&2
echo "== PyTorch" >&2
"$python" bench/pytorch_digits.py | tee "$out/torch.txt"
echo

"$python" - "$out/candle.txt" "$out/torch.txt" <<'EOF'
import json
import sys


def record(path):
    with open(path) as handle:
        lines = [line for line in handle if line.startswith("BENCH_JSON ")]
    if not lines:
        sys.exit(f"no BENCH_JSON line in {path}")
    return json.loads(lines[-1][len("BENCH_JSON "):])


candle, torch = record(sys.argv[1]), record(sys.argv[2])
print(
    f"digits MLP 64-128-64-10, batch {candle['batch_size']}, {candle['epochs']} epochs x "
    f"{candle['train_rows']} training rows, {candle['repeats']} timed runs each; "
    f"threads: candle {candle['threads']}, PyTorch {torch['threads']} ({torch['version']})"
)
print()
print("| measurement | candle | PyTorch | candle / PyTorch |")
print("| --- | --- | --- | --- |")


def row(name, key, unit, fmt):
    c, t = candle[key], torch[key]
    print(f"| {name} | {fmt.format(c)} {unit} | {fmt.format(t)} {unit} | {c / t:.2f}x |")


row("training time a run (median)", "train_seconds_median", "s", "{:.3f}")
row("training time a run (best)", "train_seconds_best", "s", "{:.3f}")
print(
    f"| training throughput (median) | {candle['samples_per_s_median']:,.0f} samples/s "
    f"| {torch['samples_per_s_median']:,.0f} samples/s "
    f"| {candle['samples_per_s_median'] / torch['samples_per_s_median']:.2f}x |"
)
print(
    f"| test accuracy | {candle['test_accuracy']:.4f} | {torch['test_accuracy']:.4f} | |"
)
row("predict 1 row, p50", "predict_1_p50_us", "µs", "{:.1f}")
row("predict 1 row, p99", "predict_1_p99_us", "µs", "{:.1f}")
row("predict 64 rows, p50", "predict_64_p50_us", "µs", "{:.1f}")
row("predict 64 rows, p99", "predict_64_p99_us", "µs", "{:.1f}")
print()
for name, side in (("candle", candle), ("PyTorch", torch)):
    spread = side["train_seconds_median"] / side["train_seconds_best"]
    if spread > 1.15:
        print(
            f"warning: {name}'s median run took {spread:.2f}x its best: other work on the "
            "machine disturbed it; rerun on an idle machine before trusting the ratio"
        )
ratio = candle["train_seconds_best"] / torch["train_seconds_best"]
verdict = "meets" if ratio <= 1.2 else "misses"
print(
    f"training time (best runs), candle / PyTorch: {ratio:.2f}x "
    f"({verdict} the target of 1.2x or less)"
)
EOF
