//! The worked example of `docs/cluster.md` (`docs/examples/cluster.sh`): Redis and two
//! nodes on one machine, at the ports the document gives (free inside the test's network
//! namespace), until the first node lists both.

use std::process::Command;

#[test]
fn the_documented_two_node_example_runs() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/examples/cluster.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("SFU_SERVER", env!("CARGO_BIN_EXE_sfu-server"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("bash runs the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the example failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The servers print their banners too; the script's answer is marked.
    let list = stdout
        .lines()
        .find_map(|l| l.strip_prefix("nodes: "))
        .expect("the script printed the node list");
    let nodes: serde_json::Value = serde_json::from_str(list).expect("the node list");
    let ids: Vec<&str> = nodes["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids, ["a", "b"]);
}
