//! The accessibility audit of the browser tests: axe-core, pinned, installed from npm once per
//! machine into a cache folder outside the clone (`$SLIPWAY_AXE_DIR`, else
//! `/var/tmp/slipway-axe-<version>`) under a file lock, then injected into each page through
//! WebDriver and run there. An audit that cannot run fails the test: a missing npm must never
//! pass as a skipped check.

use crate::browser::Browser;
use serde_json::Value;
use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The axe-core release the audit runs.
pub const AXE_VERSION: &str = "4.10.2";

/// Makes the install at `dir` unless a complete one is there. The caller holds the lock.
fn install(dir: &std::path::Path) {
    let script = dir.join("node_modules/axe-core/axe.min.js");
    let marker = dir.join(".slipway-axe");
    if script.exists() && std::fs::read_to_string(&marker).is_ok_and(|done| done == AXE_VERSION) {
        return;
    }
    let output = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .arg(format!("axe-core@{AXE_VERSION}"))
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run npm to install axe-core (on Debian: apt-get install npm): {err}")
        });
    assert!(
        output.status.success(),
        "npm install axe-core@{AXE_VERSION} into {} failed ({}):\n{}\n{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(&marker, AXE_VERSION)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", marker.display()));
}

/// The text of `axe.min.js`, installed if needed (once per process, once per machine).
pub fn script() -> &'static str {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        let dir = std::env::var_os("SLIPWAY_AXE_DIR").map_or_else(
            // /var/tmp outlives reboots and clones, so a machine installs each version once.
            || PathBuf::from(format!("/var/tmp/slipway-axe-{AXE_VERSION}")),
            PathBuf::from,
        );
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
        let lock_path = dir.with_extension("lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|err| panic!("cannot open {}: {err}", lock_path.display()));
        // Other test processes wait here while one installs.
        lock.lock()
            .unwrap_or_else(|err| panic!("cannot lock {}: {err}", lock_path.display()));
        install(&dir);
        drop(lock);
        let path = dir.join("node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
    })
}

/// The violations of impact `critical` or `serious` in `results` (axe's answer), one line
/// each: id, impact and the targets.
pub fn grave(results: &Value) -> Vec<String> {
    results["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|violation| matches!(violation["impact"].as_str(), Some("critical" | "serious")))
        .map(|violation| {
            let targets: Vec<String> = violation["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|node| node["target"].to_string())
                .collect();
            format!(
                "{} ({}): {} at {}",
                violation["id"].as_str().unwrap_or("?"),
                violation["impact"].as_str().unwrap_or("?"),
                violation["help"].as_str().unwrap_or_default(),
                targets.join(", ")
            )
        })
        .collect()
}

/// Audits the page the browser shows and panics, listing them, on any critical or serious
/// violation.
pub async fn audit(browser: &Browser, page: &str) {
    // Evaluated as the script's own text (not a <script> element), so the page's
    // Content-Security-Policy does not stop it.
    browser.execute(script()).await;
    let results = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document).then(r => done(r), e => done({error: String(e)}));",
        )
        .await;
    assert!(
        results.get("error").is_none(),
        "axe could not run on {page}: {results}"
    );
    assert!(
        results["violations"].is_array(),
        "axe gave no results on {page}: {results}"
    );
    let grave = grave(&results);
    assert!(
        grave.is_empty(),
        "{page}: {} critical or serious accessibility violations:\n{}",
        grave.len(),
        grave.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_critical_and_serious_violations_count_and_each_is_named() {
        let results = serde_json::json!({"violations": [
            {"id": "color-contrast", "impact": "serious", "help": "contrast",
             "nodes": [{"target": ["td.muted"]}]},
            {"id": "region", "impact": "moderate", "help": "landmarks", "nodes": []},
        ]});
        assert_eq!(
            grave(&results),
            [r#"color-contrast (serious): contrast at ["td.muted"]"#]
        );
    }
}
