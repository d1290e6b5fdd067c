"""A team's own training script instrumented with the `mlflow` client, unchanged, as a
command job runs it (tests/tests/command_jobs.rs): the worker's MLFLOW_TRACKING_URI,
MLFLOW_TRACKING_TOKEN and MLFLOW_RUN_ID point the client at the job's run on Slipway.
"""

import os

import mlflow
from mlflow.exceptions import MlflowException

# start_run takes the run from MLFLOW_RUN_ID (and drops the variable once it has).
RUN_ID = os.environ["MLFLOW_RUN_ID"]

with mlflow.start_run() as run:
    assert run.info.run_id == RUN_ID, run.info.run_id
    mlflow.log_param("lr", "0.1")
    mlflow.set_tag("framework", "mlflow")
    for step in range(4):
        mlflow.log_metric("acc", 0.5 + step / 10, step=step)
        print(f"step {step}", flush=True)
    other = str(int(RUN_ID) + 1000)
    try:
        mlflow.MlflowClient().set_tag(other, "stolen", "yes")
        print("other run: allowed", flush=True)
    except MlflowException as err:
        print("other run: " + err.error_code, flush=True)
