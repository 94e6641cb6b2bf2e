//! Hostile free text (quotes, backslashes, `$`, `$[…]`, `?`, `;`, newlines, UTF-8) must reach
//! RouterOS as exactly the intended string values: the hostile render parses (with
//! routeros-lsp's own parser, via tests/tools/rsc_commands.py) into the same commands as the
//! benign one, and each hostile value decodes back to itself.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use fabric::model::Secret;
use serde_json::Value;

const HOSTILE_SITE: &str = "Site \"B\"; /system reboot; :put \"\n$(/system reboot) $[/system reset-configuration] ? \\ \t café 日本 {x} [y] #z";
const HOSTILE_USER: &str = "us\"er$x;?\\ é";
const HOSTILE_PASSWORD: &str = "p\"w$[/system reboot]\\?;\n$(x)é";
const HOSTILE_CERT: &str = "chr01 \"cert\" $x";

/// Parses a script with the routeros-lsp based lister; fails loudly when it cannot run.
fn commands(path: &Path) -> Vec<Value> {
    let tool = common::repo().join("tests/tools/rsc_commands.py");
    let out = Command::new("python3")
        .arg(&tool)
        .arg(path)
        .arg("--compact")
        .output()
        .expect("python3 must be installed (scripts/install-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rsc_commands.py rejected {} (is routeros-lsp installed? scripts/install-deps.sh):\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    v["commands"].as_array().unwrap().clone()
}

/// The shape of a script: each command with its argument names, in order.
fn skeleton(cmds: &[Value]) -> Vec<String> {
    cmds.iter()
        .map(|c| {
            let mut names: Vec<&str> = c["args"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            names.sort();
            format!(
                "{} {} {}",
                c["depth"],
                c["command"].as_str().unwrap(),
                names.join(",")
            )
        })
        .collect()
}

fn render_to(dir: &Path, topology: &Path, hostile_password: bool) {
    let t = common::load(topology);
    let (plan, mut secrets) = common::plan(&t, "primary");
    if hostile_password {
        secrets
            .passwords
            .insert("client-b".parse().unwrap(), Secret::new(HOSTILE_PASSWORD));
    }
    for a in fabric::render::render(&plan, &secrets) {
        let p = dir.join(&a.path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, a.contents).unwrap();
    }
}

fn find<'a>(cmds: &'a [Value], command: &str, key: &str, value: &str) -> Vec<&'a Value> {
    cmds.iter()
        .filter(|c| c["command"] == command && c["args"][key] == value)
        .collect()
}

#[test]
fn hostile_values_parse_to_exactly_the_intended_commands_and_strings() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, hostile) = (dir.path().join("benign"), dir.path().join("hostile"));
    render_to(&benign, &common::repo().join("topology.yaml"), false);
    render_to(
        &hostile,
        &common::repo().join("tests/fixtures/hostile/topology.yaml"),
        true,
    );

    for script in [
        "routeros/chr01.rsc",
        "routeros/chr02.rsc",
        "routeros/client-b.rsc",
        "routeros/client-a-hq.rsc",
    ] {
        let (b, h) = (
            commands(&benign.join(script)),
            commands(&hostile.join(script)),
        );
        assert_eq!(
            skeleton(&b),
            skeleton(&h),
            "{script}: hostile text changed the command structure"
        );
        for c in &h {
            for (name, v) in c["args"].as_object().unwrap() {
                let interpolates = v
                    .get("type")
                    .is_some_and(|t| t == "interpolated" || (t == "var" && v["name"] != "first"));
                assert!(
                    !interpolates,
                    "{script}:{}: argument {name} interpolates: {v}",
                    c["line"]
                );
            }
        }
    }

    let hub = commands(&hostile.join("routeros/chr01.rsc"));
    let secrets = find(&hub, "/ppp secret add", "name", HOSTILE_USER);
    assert_eq!(
        secrets.len(),
        1,
        "exactly one PPP secret add for the hostile user"
    );
    assert_eq!(secrets[0]["args"]["password"], HOSTILE_PASSWORD);
    let comment = secrets[0]["args"]["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("fabric:g")
            && comment.ends_with(&format!(":client=client-b {HOSTILE_SITE}")),
        "{comment:?}"
    );
    assert_eq!(
        find(
            &hub,
            "/interface sstp-server server set",
            "certificate",
            HOSTILE_CERT
        )
        .len(),
        1
    );

    let client = commands(&hostile.join("routeros/client-b.rsc"));
    let dials = find(&client, "/interface sstp-client add", "user", HOSTILE_USER);
    assert_eq!(dials.len(), 2, "one tunnel per hub");
    for d in dials {
        assert_eq!(d["args"]["password"], HOSTILE_PASSWORD);
        assert!(
            d["args"]["comment"]
                .as_str()
                .unwrap()
                .ends_with(HOSTILE_SITE)
        );
    }
    assert_eq!(
        find(
            &client,
            "/certificate import",
            "file-name",
            "ca$[/quit].crt"
        )
        .len(),
        1
    );
    assert!(!client.iter().any(|c| c["command"] == "/system reboot"
        || c["command"] == "/system reset-configuration"
        || c["command"] == "/quit"));
}
