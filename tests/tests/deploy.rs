//! The container image's recipe and the Kubernetes manifests (`deploy/`), checked against the
//! real binary: the manifests render and validate offline against the Kubernetes schemas
//! (`tests/python/kube_manifests.py`), and every container they run asks the binary only for
//! subcommands, flags and environment variables its `--help` lists, listens on the port its
//! pod declares, is probed on routes the server (or, for `slipway serve`, a serving replica)
//! answers, calls the server through a Service that selects it, on a port of that Service, and
//! runs the image `deploy/build-image` tags; the serving replicas have a CPU autoscaler. The checks read whatever the manifests hold, so a manifest added later is checked the
//! same way. The image itself is built and inspected by `.ci/run` (`deploy/check-image`).

use serde_json::Value;
use slipway_tests::TestServer;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// The tag `deploy/build-image` gives the image.
fn image_tag() -> String {
    let output = Command::new("bash")
        .arg(repo().join("deploy/build-image"))
        .arg("--print-tag")
        .output()
        .expect("run deploy/build-image --print-tag");
    assert!(
        output.status.success(),
        "deploy/build-image --print-tag failed"
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// What `slipway <subcommand> --help` accepts: its long flags and its environment variables.
#[derive(Debug, Default)]
struct Accepted {
    flags: BTreeSet<String>,
    env: BTreeSet<String>,
}

fn accepted<'a>(cache: &'a mut BTreeMap<String, Accepted>, subcommand: &str) -> &'a Accepted {
    cache.entry(subcommand.to_owned()).or_insert_with(|| {
        let output = slipway_tests::command()
            .args([subcommand, "--help"])
            .output()
            .expect("run slipway --help");
        assert!(
            output.status.success(),
            "`slipway {subcommand}` is not a subcommand of the binary:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_help(&String::from_utf8_lossy(&output.stdout))
    })
}

/// Flags are the `--name` words of the lines that start with a dash; environment variables are
/// the names in `[env: NAME=…]`, which clap may wrap onto the next line.
fn parse_help(help: &str) -> Accepted {
    let mut accepted = Accepted::default();
    for line in help.lines() {
        let line = line.trim_start();
        if line.starts_with('-') {
            for word in line.split(|c: char| c.is_whitespace() || c == ',') {
                if let Some(flag) = word.strip_prefix("--").filter(|flag| !flag.is_empty()) {
                    accepted.flags.insert(format!("--{flag}"));
                }
            }
        }
    }
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for (_, rest) in flat
        .match_indices("[env: ")
        .map(|(i, _)| flat.split_at(i + 6))
    {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        accepted.env.insert(name);
    }
    accepted
}

/// The pod spec of a workload, if the resource is one.
fn pod_spec(resource: &Value) -> Option<&Value> {
    match resource["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some(&resource["spec"]["template"]["spec"])
        }
        "CronJob" => Some(&resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

fn name_of(resource: &Value) -> String {
    format!(
        "{}/{}",
        resource["kind"].as_str().unwrap_or("?"),
        resource["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The value of `--flag VALUE` or `--flag=VALUE` in `args`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, arg)| {
        if arg == flag {
            args.get(i + 1).map(String::as_str)
        } else {
            arg.strip_prefix(flag)?.strip_prefix('=')
        }
    })
}

/// The port of a `HOST:PORT` listen address.
fn port_of(addr: &str) -> i64 {
    addr.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("listen address {addr:?} is not HOST:PORT"))
}

/// What a checked container runs.
#[derive(Debug)]
struct Checked {
    subcommand: String,
    /// The port it listens on, if any.
    listen: Option<i64>,
    /// The server it talks to (`--server` or `SLIPWAY_SERVER`), if named.
    server: Option<String>,
}

/// Checks one container against the binary.
fn check_container(
    container: &Value,
    whose: &str,
    tag: &str,
    help: &mut BTreeMap<String, Accepted>,
) -> Checked {
    assert_eq!(
        container["image"].as_str(),
        Some(tag),
        "{whose}: the image must be the one deploy/build-image tags"
    );
    // The image's entrypoint is the binary; a `command`, if any, must name it too.
    let command = strings(&container["command"]);
    if let Some(program) = command.first() {
        assert!(
            program.ends_with("slipway"),
            "{whose}: command {program} is not the slipway binary"
        );
    }
    let args: Vec<String> = command
        .into_iter()
        .skip(1)
        .chain(strings(&container["args"]))
        .collect();
    let subcommand = args
        .first()
        .filter(|arg| !arg.starts_with('-'))
        .unwrap_or_else(|| panic!("{whose}: the arguments must start with a subcommand"))
        .clone();
    let accepted = accepted(help, &subcommand);
    for arg in args.iter().filter(|arg| arg.starts_with("--")) {
        let flag = arg.split('=').next().unwrap_or(arg);
        assert!(
            accepted.flags.contains(flag),
            "{whose}: `slipway {subcommand}` has no flag {flag} (it has {:?})",
            accepted.flags
        );
    }
    let mut env = BTreeMap::new();
    for variable in container["env"].as_array().into_iter().flatten() {
        let name = variable["name"].as_str().expect("an env name");
        if name.starts_with("SLIPWAY_") {
            assert!(
                accepted.env.contains(name),
                "{whose}: `slipway {subcommand}` does not read {name} (it reads {:?})",
                accepted.env
            );
        }
        env.insert(name.to_owned(), variable["value"].as_str());
    }

    let listen = flag_value(&args, "--addr")
        .or_else(|| env.get("SLIPWAY_ADDR").copied().flatten())
        .map(port_of);
    let ports: BTreeMap<String, i64> = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| {
            let number = port["containerPort"].as_i64().expect("a containerPort");
            assert_eq!(
                Some(number),
                listen,
                "{whose}: containerPort {number} is not the port the server listens on (--addr)"
            );
            (port["name"].as_str().unwrap_or("").to_owned(), number)
        })
        .collect();
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        let get = &container[probe]["httpGet"];
        if get.is_null() {
            continue;
        }
        let port = match &get["port"] {
            Value::String(name) => ports.get(name).copied(),
            other => other.as_i64(),
        };
        assert!(
            port.is_some() && port == listen,
            "{whose}: the {probe} port {} is not the listen port",
            get["port"]
        );
    }
    let server = flag_value(&args, "--server")
        .or_else(|| env.get("SLIPWAY_SERVER").copied().flatten())
        .map(str::to_owned);
    Checked {
        subcommand,
        listen,
        server,
    }
}

/// The host and port of an `http://HOST:PORT` URL.
fn host_port(url: &str) -> (String, i64) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("server URL {url:?} is not http://HOST:PORT"));
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("server URL {url:?} names no port"));
    (
        host.to_owned(),
        port.parse()
            .unwrap_or_else(|_| panic!("server URL {url:?} has a bad port")),
    )
}

/// The `slipway_…` metric names a Prometheus query reads.
fn metric_names(query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find("slipway_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn kubernetes_manifests_validate_offline_and_match_the_binary() {
    let root = repo().join("deploy/kubernetes");
    let run = slipway_tests::python::run_script(
        "kube_manifests.py",
        &[root.to_str().expect("a UTF-8 path")],
        &[],
    );
    let rendered: Value = serde_json::from_str(run.expect_success("kube_manifests.py"))
        .expect("kube_manifests.py prints JSON");
    let renders = rendered["renders"].as_array().expect("renders");
    let names: Vec<&str> = renders.iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(names.contains(&"base"), "no base rendered: {names:?}");
    assert!(names.len() > 1, "no overlay rendered: {names:?}");

    let tag = image_tag();
    let mut help = BTreeMap::new();
    // Probe paths by the subcommand whose container is probed.
    let mut probe_paths: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut metrics = BTreeSet::new();
    let mut workloads_seen = 0;
    let mut autoscaled_replicas = false;
    for render in renders {
        let overlay = render["name"].as_str().expect("a name");
        let resources = render["resources"].as_array().expect("resources");
        // Each workload's pod labels and the ports its containers listen on, by port name and
        // number, for the Services below.
        let mut pods: Vec<(String, &Value, BTreeMap<String, i64>)> = Vec::new();
        // The subcommands each workload runs, and the server URLs its containers call.
        let mut runs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut calls: Vec<(String, String)> = Vec::new();
        for resource in resources {
            let Some(spec) = pod_spec(resource) else {
                continue;
            };
            workloads_seen += 1;
            let workload = name_of(resource);
            let mut ports = BTreeMap::new();
            for container in spec["containers"].as_array().expect("containers") {
                let whose = format!("{overlay}: {workload}: {}", container["name"]);
                let checked = check_container(container, &whose, &tag, &mut help);
                if let Some(server) = checked.server {
                    calls.push((whose.clone(), server));
                }
                runs.entry(workload.clone())
                    .or_default()
                    .insert(checked.subcommand.clone());
                for port in container["ports"].as_array().into_iter().flatten() {
                    let number = port["containerPort"].as_i64().expect("a port");
                    ports.insert(number.to_string(), number);
                    if let Some(name) = port["name"].as_str() {
                        ports.insert(name.to_owned(), number);
                    }
                }
                for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                    if let Some(path) = container[probe]["httpGet"]["path"].as_str() {
                        probe_paths
                            .entry(checked.subcommand.clone())
                            .or_default()
                            .insert(path.to_owned());
                    }
                }
            }
            let labels = &resource["spec"]["template"]["metadata"]["labels"];
            pods.push((workload, labels, ports));
        }
        // Services by name: their ports and the subcommands of the workloads they select.
        let mut services: BTreeMap<String, (BTreeSet<i64>, BTreeSet<String>)> = BTreeMap::new();
        for resource in resources {
            let whose = format!("{overlay}: {}", name_of(resource));
            match resource["kind"].as_str() {
                Some("Service") => {
                    let selector = resource["spec"]["selector"]
                        .as_object()
                        .expect("a selector");
                    let selected: Vec<_> = pods
                        .iter()
                        .filter(|(_, labels, _)| {
                            selector.iter().all(|(key, value)| &labels[key] == value)
                        })
                        .collect();
                    assert!(!selected.is_empty(), "{whose} selects no workload");
                    let entry = services
                        .entry(
                            resource["metadata"]["name"]
                                .as_str()
                                .unwrap_or("?")
                                .to_owned(),
                        )
                        .or_default();
                    for (workload, _, _) in &selected {
                        entry
                            .1
                            .extend(runs.get(workload).into_iter().flatten().cloned());
                    }
                    for port in resource["spec"]["ports"].as_array().expect("ports") {
                        entry.0.extend(port["port"].as_i64());
                    }
                    for port in resource["spec"]["ports"].as_array().expect("ports") {
                        let target = match &port["targetPort"] {
                            Value::Null => port["port"].to_string(),
                            Value::String(name) => name.clone(),
                            number => number.to_string(),
                        };
                        for (workload, _, ports) in &selected {
                            assert!(
                                ports.contains_key(&target),
                                "{whose}: targetPort {target} is no port of {workload}"
                            );
                        }
                    }
                }
                Some("HorizontalPodAutoscaler") | Some("ScaledObject") => {
                    let target = &resource["spec"]["scaleTargetRef"];
                    let wanted = format!(
                        "{}/{}",
                        target["kind"].as_str().unwrap_or("Deployment"),
                        target["name"].as_str().unwrap_or("?")
                    );
                    assert!(
                        pods.iter().any(|(workload, _, _)| *workload == wanted),
                        "{whose}: scales {wanted}, which is not rendered"
                    );
                    let scales_replicas = runs.get(&wanted).is_some_and(|r| r.contains("serve"));
                    if resource["kind"] == "HorizontalPodAutoscaler" && scales_replicas {
                        let on_cpu = resource["spec"]["metrics"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|metric| metric["resource"]["name"] == "cpu");
                        assert!(on_cpu, "{whose}: scales serving replicas on no CPU metric");
                        autoscaled_replicas = true;
                    }
                    for trigger in resource["spec"]["triggers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        let query = trigger["metadata"]["query"].as_str().unwrap_or("");
                        let names = metric_names(query);
                        assert!(
                            !names.is_empty(),
                            "{whose}: query {query:?} reads no slipway metric"
                        );
                        metrics.extend(names);
                    }
                }
                _ => {}
            }
        }
        // Workers and serving replicas reach the server through its Service, on its port.
        for (whose, url) in &calls {
            let (host, port) = host_port(url);
            let (ports, subcommands) = services
                .get(&host)
                .unwrap_or_else(|| panic!("{whose}: --server {url} names no rendered Service"));
            assert!(
                ports.contains(&port),
                "{whose}: --server {url}: Service {host} has no port {port} ({ports:?})"
            );
            assert!(
                subcommands.contains("server") || subcommands.contains("up"),
                "{whose}: --server {url}: Service {host} selects no server ({subcommands:?})"
            );
        }
    }
    assert!(workloads_seen > 0, "no workload rendered");
    assert!(!probe_paths.is_empty(), "no container is probed");
    assert!(
        autoscaled_replicas,
        "no HorizontalPodAutoscaler scales the serving replicas (`slipway serve`)"
    );

    // The probes and the autoscaler's metrics, asked of a real server and a real serving
    // replica, each for the containers that run it: probes carry no token.
    let server = TestServer::start();
    let replica_token =
        slipway_tests::new_token(&server.admin(), "probe", slipway_api::Role::Worker).await;
    let replica = server.serving_replica(&replica_token);
    let http = reqwest::Client::new();
    for (subcommand, paths) in &probe_paths {
        let base = match subcommand.as_str() {
            "serve" => &replica.url,
            "server" | "up" => &server.url,
            other => panic!("a probed container runs `slipway {other}`, which serves no HTTP"),
        };
        for path in paths {
            let response = http
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("GET the probe path");
            assert_eq!(
                response.status(),
                reqwest::StatusCode::OK,
                "probe path {path} is not a route `slipway {subcommand}` answers without a token"
            );
        }
    }
    let exposition = http
        .get(format!("{}/metrics", server.url))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics text");
    for metric in &metrics {
        assert!(
            exposition
                .lines()
                .any(|line| line.starts_with(&format!("{metric} "))
                    || line.starts_with(&format!("{metric}{{"))),
            "the server exports no metric {metric}:\n{exposition}"
        );
    }
}

#[test]
fn the_containerfile_lints_clean_and_runs_the_server_as_the_binary_expects() {
    let path = repo().join("deploy/Containerfile");
    let hadolint = slipway_tests::python::venv().join("bin").join("hadolint");
    let lint = Command::new(&hadolint)
        .args(["--no-color", "--failure-threshold", "style"])
        .arg(&path)
        .output()
        .expect("run hadolint from the test venv");
    assert!(
        lint.status.success(),
        "hadolint finds fault with deploy/Containerfile:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let text = std::fs::read_to_string(&path).expect("read deploy/Containerfile");
    let instruction = |name: &str| -> String {
        let mut found = text
            .lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .map(str::trim);
        let value = found
            .next()
            .unwrap_or_else(|| panic!("deploy/Containerfile has no {name}"));
        assert!(
            found.next().is_none(),
            "deploy/Containerfile has two {name}"
        );
        value.to_owned()
    };
    let json_array = |name: &str| -> Vec<String> {
        let value: Value = serde_json::from_str(&instruction(name))
            .unwrap_or_else(|err| panic!("{name} is not a JSON array (exec form): {err}"));
        strings(&value)
    };

    let user = instruction("USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|uid| uid.parse().ok())
        .unwrap_or_else(|| panic!("USER {user} is not numeric"));
    assert_ne!(uid, 0, "the image must not run as root");
    assert_eq!(instruction("FROM"), "scratch");
    assert_eq!(json_array("ENTRYPOINT"), ["/usr/local/bin/slipway"]);
    let cmd = json_array("CMD");
    let container = serde_json::json!({ "image": image_tag(), "args": cmd });
    let listen = check_container(
        &container,
        "deploy/Containerfile CMD",
        &image_tag(),
        &mut BTreeMap::new(),
    )
    .listen;
    assert_eq!(cmd.first().map(String::as_str), Some("server"));
    assert_eq!(
        listen.map(|port| port.to_string()),
        Some(instruction("EXPOSE")),
        "EXPOSE must be the port CMD listens on"
    );
    let volume = json_array("VOLUME");
    assert_eq!(
        volume.first().map(String::as_str),
        flag_value(&cmd, "--data-dir"),
        "the volume must be the data dir"
    );
}

#[test]
fn the_readme_explains_the_image_every_overlay_and_secret() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("read README.md");
    let section = readme
        .split("\n## Running on Kubernetes\n")
        .nth(1)
        .expect("the README has a \"## Running on Kubernetes\" section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    assert!(section.contains("deploy/build-image"), "{section}");
    let overlays = repo().join("deploy/kubernetes/overlays");
    for entry in std::fs::read_dir(&overlays).expect("read the overlays") {
        let name = entry.expect("an overlay").file_name();
        let name = name.to_string_lossy();
        assert!(
            section.contains(&format!("overlays/{name}")),
            "the Kubernetes section does not mention overlays/{name}"
        );
    }
    // Every Secret a base manifest reads is one the section says how to make.
    let base = repo().join("deploy/kubernetes/base");
    for entry in std::fs::read_dir(&base).expect("read the base") {
        let text = std::fs::read_to_string(entry.expect("a manifest").path()).expect("read it");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if let ("secretKeyRef:", Some(secret)) = (pair[0], pair[1].strip_prefix("name: ")) {
                assert!(
                    section.contains(&format!("secret generic {secret} ")),
                    "the Kubernetes section does not say how to make the Secret {secret}"
                );
            }
        }
    }
}

#[test]
fn help_parsing_finds_flags_and_wrapped_env_names() {
    let help = "Options:\n      --addr <HOST:PORT>\n          listen [env:\n          SLIPWAY_ADDR=]\n  -o, --output <OUTPUT>\n      --token <TOKEN>  [env: SLIPWAY_TOKEN]\n";
    let accepted = parse_help(help);
    assert_eq!(
        accepted.flags,
        BTreeSet::from(["--addr", "--output", "--token"].map(String::from))
    );
    assert_eq!(
        accepted.env,
        BTreeSet::from(["SLIPWAY_ADDR", "SLIPWAY_TOKEN"].map(String::from))
    );
    assert_eq!(
        metric_names("max(slipway_queue_depth) / slipway_workers{state=\"idle\"}"),
        ["slipway_queue_depth", "slipway_workers"]
    );
}
