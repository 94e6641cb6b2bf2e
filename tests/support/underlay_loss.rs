//! Random loss on a serve lab's underlay link: nftables `numgen random` drop rules in the
//! inet namespace's forward hook, one per direction, with packet counters (`tc netem` is not
//! available here).

use std::io::Write;
use std::process::{Command, Stdio};

use super::serve_lab::{Lab, text};

const TABLE: &str = "fabric_loss";

impl Lab {
    /// Drops `percent` % of the packets forwarded into and out of `link`, at random.
    pub fn add_loss(&self, link: &str, percent: u8) {
        assert!(percent <= 100);
        let rules = format!(
            "table inet {TABLE} {{\n chain lossy {{\n  type filter hook forward priority 0; policy accept;\n  iifname \"{link}\" numgen random mod 100 < {percent} counter drop\n  oifname \"{link}\" numgen random mod 100 < {percent} counter drop\n }}\n}}\n"
        );
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &format!("{}-inet", self.prefix)])
            .args(["nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        nft.stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules");
    }

    /// Packets dropped so far by the two loss rules: `[into link, out of link]`.
    pub fn loss_drops(&self) -> Vec<u64> {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{}-inet", self.prefix)])
            .args(["nft", "list", "table", "inet", TABLE])
            .output()
            .unwrap();
        assert!(out.status.success(), "nft list: {}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .filter_map(|l| l.split("packets ").nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect()
    }
}
