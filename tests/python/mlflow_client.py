"""Drives Slipway's MLflow API with the real `mlflow` client, as a team's training script
would: MLFLOW_TRACKING_URI names the server, MLFLOW_TRACKING_TOKEN carries a Slipway token
(an engineer's); SLIPWAY_WORKER_TOKEN is a worker's, which may track but not move a
protected alias. Checks what the client reads back, and prints what it made as JSON for
tests/tests/mlflow.rs to find through Slipway's own API and command line.
"""

import json
import os
import random
import sys
import tempfile

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

EXPERIMENT = "mlflow-e2e"
MODEL = "mlflow-e2e-model"


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def error_code(call):
    """The MLflow error code `call` fails with (it must fail)."""
    try:
        call()
    except MlflowException as err:
        return err.error_code
    raise AssertionError("expected the call to fail")


def train(name, accuracies, params, tags, start_ms):
    """A run that logs `accuracies` as the `acc` history and a `loss` for each step, with
    explicit timestamps so the history can be checked exactly."""
    history = []
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params(params)
        mlflow.set_tags(tags)
        for step, acc in enumerate(accuracies):
            loss = 1.0 / (step + 1) + step * 1e-9
            timestamp = start_ms + step
            mlflow.log_metric("acc", acc, step=step, timestamp=timestamp)
            mlflow.log_metric("loss", loss, step=step, timestamp=timestamp)
            history.append((step, loss, timestamp))
    return run.info.run_id, history


def main():
    client = MlflowClient()
    experiment = mlflow.set_experiment(EXPERIMENT)
    check(experiment.name == EXPERIMENT, f"experiment name {experiment.name}")
    check(experiment.lifecycle_stage == "active", "experiment is active")
    # Experiment tags are stored, returned by get and search, replaced and deleted.
    client.set_experiment_tag(experiment.experiment_id, "owner", "vision-team")
    client.set_experiment_tag(experiment.experiment_id, "stage", "draft")
    client.set_experiment_tag(experiment.experiment_id, "stage", "review")
    tags = client.get_experiment(experiment.experiment_id).tags
    check(tags == {"owner": "vision-team", "stage": "review"}, f"experiment tags {tags}")
    client.delete_experiment_tag(experiment.experiment_id, "stage")
    found = client.get_experiment_by_name(EXPERIMENT).tags
    check(found == {"owner": "vision-team"}, f"experiment tags after delete {found}")
    listed = [e for e in client.search_experiments() if e.name == EXPERIMENT]
    check(listed and listed[0].tags == {"owner": "vision-team"}, f"searched {listed}")

    start_ms = 1_767_225_600_000
    # The best accuracy is logged last by `baseline` only: `peaked` was better once but ends
    # worse, so a filter on the latest value must tell them apart.
    baseline, loss_history = train(
        "baseline",
        [0.1 * i for i in range(10)] + [0.95],
        {"lr": "0.01", "layers": "3"},
        {"team": "vision"},
        start_ms,
    )
    peaked, _ = train(
        "peaked", [0.5, 0.99, 0.2], {"lr": "0.1", "layers": "3"}, {"team": "vision"}, start_ms
    )
    steady, _ = train(
        "steady", [0.3, 0.49], {"lr": "0.001", "layers": "2"}, {"team": "audio"}, start_ms
    )

    # Artifacts: a file and a model directory, uploaded through the proxy; the file comes
    # back byte for byte.
    rng = random.Random(19)
    payload = bytes(rng.getrandbits(8) for _ in range(200_000))
    with tempfile.TemporaryDirectory() as tmp:
        blob = os.path.join(tmp, "blob.bin")
        with open(blob, "wb") as f:
            f.write(payload)
        model_dir = os.path.join(tmp, "model")
        os.makedirs(model_dir)
        with open(os.path.join(model_dir, "MLmodel"), "w") as f:
            f.write("artifact_path: model\nflavors: {}\n")
        with open(os.path.join(model_dir, "weights.bin"), "wb") as f:
            f.write(payload[:1000])
        with mlflow.start_run(run_id=baseline):
            mlflow.log_artifact(blob, artifact_path="data")
            mlflow.log_artifacts(model_dir, artifact_path="model")
        top = sorted(f.path for f in client.list_artifacts(baseline))
        check(top == ["data", "model"], f"top-level artifacts {top}")
        inner = sorted(f.path for f in client.list_artifacts(baseline, "model"))
        check(inner == ["model/MLmodel", "model/weights.bin"], f"model artifacts {inner}")
        local = mlflow.artifacts.download_artifacts(
            run_id=baseline, artifact_path="data/blob.bin", dst_path=os.path.join(tmp, "down")
        )
        with open(local, "rb") as f:
            check(f.read() == payload, "the downloaded artifact differs from the uploaded one")

    # The run as the client reads it.
    run = client.get_run(baseline)
    check(run.data.params == {"lr": "0.01", "layers": "3"}, f"params {run.data.params}")
    check(run.data.tags.get("team") == "vision", f"tags {run.data.tags}")
    check(run.data.metrics["acc"] == 0.95, f"latest acc {run.data.metrics}")
    check(run.info.status == "FINISHED", f"status {run.info.status}")

    # Search: a filter on the latest metric value, an order, and pages of one.
    found = client.search_runs([experiment.experiment_id], "metrics.acc > 0.9")
    check([r.info.run_id for r in found] == [baseline], f"latest-value filter {found}")
    found = client.search_runs(
        [experiment.experiment_id], "params.layers = '3' and tags.team = 'vision'"
    )
    check(sorted(r.info.run_id for r in found) == sorted([baseline, peaked]), "param filter")
    order, token = [], None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            "",
            order_by=["metrics.acc DESC"],
            max_results=1,
            page_token=token,
        )
        order.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
    check(order == [baseline, steady, peaked], f"ordered pages {order}")

    # The history exactly as logged.
    points = client.get_metric_history(baseline, "loss")
    got = [(m.step, m.value, m.timestamp) for m in points]
    check(got == loss_history, f"loss history {got[:3]}... != {loss_history[:3]}...")

    # Delete hides a run from searches, restore brings it back.
    client.delete_run(steady)
    visible = {r.info.run_id for r in client.search_runs([experiment.experiment_id])}
    check(steady not in visible, "a deleted run is hidden")
    check(client.get_run(steady).info.lifecycle_stage == "deleted", "deleted stage")
    client.restore_run(steady)
    visible = {r.info.run_id for r in client.search_runs([experiment.experiment_id])}
    check(steady in visible, "a restored run is back")

    # Errors as MLflow names them.
    unknown = error_code(lambda: client.get_run("999999"))
    check(unknown == "RESOURCE_DOES_NOT_EXIST", f"unknown run: {unknown}")
    searched = error_code(lambda: client.search_runs(["999999"]))
    check(searched == "RESOURCE_DOES_NOT_EXIST", f"search of an unknown experiment: {searched}")

    summary = {
        "experiment_id": experiment.experiment_id,
        "baseline": baseline,
        "peaked": peaked,
        "steady": steady,
        "unknown_run": unknown,
    }
    summary.update(registry(client, baseline))
    print(json.dumps(summary))


def registry(client, run_id):
    """Registers the baseline's model directory, moves aliases, searches the registry."""
    version = mlflow.register_model(f"runs:/{run_id}/model", MODEL)
    check(version.version == "1", f"first version {version.version}")
    check(version.run_id == run_id, f"version's run {version.run_id}")
    duplicate = error_code(lambda: client.create_registered_model(MODEL))
    check(duplicate == "RESOURCE_ALREADY_EXISTS", f"duplicate model: {duplicate}")

    client.set_registered_model_alias(MODEL, "staging", "1")
    by_alias = client.get_model_version_by_alias(MODEL, "staging")
    check(by_alias.version == "1", f"alias resolves to {by_alias.version}")
    check(by_alias.aliases == ["staging"], f"version aliases {by_alias.aliases}")

    models = client.search_registered_models(filter_string="name LIKE 'mlflow-e2e%'")
    check([m.name for m in models] == [MODEL], f"model search {models}")
    check(models[0].aliases == {"staging": "1"}, f"model aliases {models[0].aliases}")
    versions = client.search_model_versions(f"name = '{MODEL}'")
    check([v.version for v in versions] == ["1"], f"version search {versions}")

    # Tags of registered models and versions are stored, returned, filtered on and deleted.
    client.set_registered_model_tag(MODEL, "task", "digits")
    client.set_registered_model_tag(MODEL, "owner", "vision")
    client.delete_registered_model_tag(MODEL, "owner")
    tags = client.get_registered_model(MODEL).tags
    check(tags == {"task": "digits"}, f"model tags {tags}")
    client.set_model_version_tag(MODEL, "1", "validated", "yes")
    tags = client.get_model_version(MODEL, "1").tags
    check(tags == {"validated": "yes"}, f"version tags {tags}")
    found = client.search_registered_models(filter_string="tags.task = 'digits'")
    check([m.name for m in found] == [MODEL], f"model search by tag {found}")
    found = client.search_registered_models(filter_string="tags.task = 'speech'")
    check(found == [], f"model search by another tag {found}")
    found = client.search_model_versions(f"name = '{MODEL}' and tags.validated = 'yes'")
    check([v.version for v in found] == ["1"], f"version search by tag {found}")
    client.delete_model_version_tag(MODEL, "1", "validated")
    found = client.search_model_versions(f"name = '{MODEL}' and tags.validated = 'yes'")
    check(found == [], f"version search after the tag's delete {found}")
    found = client.search_experiments(filter_string="tags.owner = 'vision-team'")
    check([e.name for e in found] == [EXPERIMENT], f"experiment search by tag {found}")

    # `champion` is protected: a worker's token may track but not move it.
    engineer = os.environ["MLFLOW_TRACKING_TOKEN"]
    os.environ["MLFLOW_TRACKING_TOKEN"] = os.environ["SLIPWAY_WORKER_TOKEN"]
    try:
        denied = error_code(lambda: client.set_registered_model_alias(MODEL, "champion", "1"))
    finally:
        os.environ["MLFLOW_TRACKING_TOKEN"] = engineer
    check(denied == "PERMISSION_DENIED", f"protected alias as a worker: {denied}")
    client.set_registered_model_alias(MODEL, "champion", "1")
    check(client.get_model_version_by_alias(MODEL, "champion").version == "1", "champion")
    client.delete_registered_model_alias(MODEL, "staging")
    gone = error_code(lambda: client.get_model_version_by_alias(MODEL, "staging"))
    check(gone == "RESOURCE_DOES_NOT_EXIST", f"deleted alias: {gone}")
    stages = stage_transitions(client, run_id)
    return {
        "stages": stages,
        "model": MODEL,
        "version": version.version,
        "duplicate_model": duplicate,
        "protected_alias": denied,
    }


def stage_transitions(client, run_id):
    """Moves versions through MLflow's stages; answers the stage of each version at the end."""
    second = mlflow.register_model(f"runs:/{run_id}/model", MODEL)
    check(second.version == "2", f"second version {second.version}")
    check(second.current_stage == "None", f"a new version's stage {second.current_stage}")
    moved = client.transition_model_version_stage(MODEL, "1", "Production")
    check(moved.current_stage == "Production", f"v1 after its move {moved.current_stage}")
    client.transition_model_version_stage(MODEL, "2", "Staging")
    latest = client.get_latest_versions(MODEL, stages=["Production"])
    check([v.version for v in latest] == ["1"], f"latest in Production {latest}")
    latest = client.get_latest_versions(MODEL, stages=["Staging", "Production"])
    check(sorted(v.version for v in latest) == ["1", "2"], f"latest in two stages {latest}")

    # Promoting v2 with archive_existing_versions archives v1, the one in Production.
    client.transition_model_version_stage(MODEL, "2", "Production", archive_existing_versions=True)
    latest = client.get_latest_versions(MODEL, stages=["Production"])
    check([v.version for v in latest] == ["2"], f"latest in Production after v2 {latest}")
    check(client.get_latest_versions(MODEL, stages=["Staging"]) == [], "nothing in Staging")
    archived = client.get_model_version(MODEL, "1").current_stage
    check(archived == "Archived", f"v1 after v2's promotion {archived}")
    bad = error_code(lambda: client.transition_model_version_stage(MODEL, "2", "Live"))
    check(bad == "INVALID_PARAMETER_VALUE", f"unknown stage: {bad}")
    found = client.search_model_versions(f"name = '{MODEL}'")
    return {v.version: v.current_stage for v in found}


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print(f"check failed: {err}", file=sys.stderr)
        sys.exit(1)
