"""A team's own training script, as a command job runs it (tests/tests/command_jobs.rs).

It uses only the standard library and the environment a Slipway worker sets: it logs a
parameter and a loss per epoch to its run through Slipway's REST API (the run is
MLFLOW_RUN_ID, the token MLFLOW_TRACKING_TOKEN), prints a line per epoch, and has modes the
tests drive: `--fail` exits 3 after writing to stderr, `--hang` starts a child `sleep` and
waits to be stopped, `--copy-model RUN` writes the model of run RUN to `out/` (as a team's
script writes the model it trained), and `--probe` reports what the token may do.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

SERVER = os.environ["SLIPWAY_SERVER"]
TOKEN = os.environ["MLFLOW_TRACKING_TOKEN"]
RUN_ID = int(os.environ["MLFLOW_RUN_ID"])


def call(method, path, body=None, raw=False):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(SERVER + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = response.read()
        return payload if raw else json.loads(payload or b"null")


def status_of(method, path, body=None):
    try:
        call(method, path, body)
        return 200
    except urllib.error.HTTPError as err:
        return err.code


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--copy-model", type=int)
    args = parser.parse_args()

    if args.fail:
        print("about to fail")
        for i in range(30):
            print(f"noise {i}", file=sys.stderr)
        print("ValueError: the learning rate is negative", file=sys.stderr)
        sys.exit(3)

    if args.hang:
        child = subprocess.Popen(["sleep", "300"])
        print(f"pids {os.getpid()} {child.pid}", flush=True)
        while True:
            time.sleep(1)

    if args.probe:
        # What the token may do, and where the token goes for the test to try once the job ended.
        with open(os.environ["TOKEN_OUT"], "w") as out:
            out.write(TOKEN)
        print("cuda=[" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset") + "]")
        print("job=" + os.environ["SLIPWAY_JOB_ID"] + " run=" + os.environ["SLIPWAY_RUN_ID"])
        print("ignored file unpacked: " + str(os.path.exists("data/big.csv")))
        print("helper: " + open("lib/helper.txt").read().strip())
        other = status_of("POST", f"/api/v1/runs/{RUN_ID + 1000}/log-batch", {"tags": []})
        submit = status_of("POST", "/api/v1/jobs", {"kind": "sleep"})
        print(f"other run: {other}, submit: {submit}")

    params = [{"key": "epochs", "value": str(args.epochs)}]
    call("POST", f"/api/v1/runs/{RUN_ID}/log-batch", {"params": params})
    for epoch in range(1, args.epochs + 1):
        loss = 1.0 / epoch
        metric = {"key": "loss", "value": loss, "step": epoch}
        call("POST", f"/api/v1/runs/{RUN_ID}/log-batch", {"metrics": [metric]})
        print(f"epoch {epoch} loss {loss:.4f}")

    if args.copy_model is not None:
        os.makedirs("out", exist_ok=True)
        for name in ["model.json", "model.safetensors"]:
            body = call("GET", f"/api/v1/runs/{args.copy_model}/artifacts/{name}", raw=True)
            with open(os.path.join("out", name), "wb") as out:
                out.write(body)
        print("wrote out/")


if __name__ == "__main__":
    main()
