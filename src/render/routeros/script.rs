//! A small builder for idempotent RouterOS script text.

use crate::render::quote::ros_quote;

/// Placeholder for the generation tag, replaced once the body is complete.
const GEN: &str = "@GEN@";

pub struct Script {
    body: String,
}

impl Script {
    pub fn new() -> Self {
        Script {
            body: String::new(),
        }
    }

    /// A comment line (fixed text only: never user data, a `#` line cannot be escaped).
    pub fn comment(&mut self, text: &str) {
        debug_assert!(!text.contains('\n'));
        self.body.push_str("# ");
        self.body.push_str(text);
        self.body.push('\n');
    }

    pub fn line(&mut self, text: &str) {
        self.body.push_str(text);
        self.body.push('\n');
    }

    /// The comment value that tags a fabric-owned object: `fabric:g<GEN>:<what>`.
    pub fn tag(what: &str) -> String {
        ros_quote(&format!("fabric:g{GEN}:{what}"))
    }

    /// Adds the object when `find` matches nothing, otherwise sets it in place.
    pub fn ensure(&mut self, menu: &str, find: &str, add: &str, set: &str) {
        self.line(&format!(
            ":if ([:len [{menu} find where {find}]] = 0) do={{"
        ));
        self.line(&format!("  {menu} add {add}"));
        self.line("} else={");
        self.line(&format!("  {menu} set [find where {find}] {set}"));
        self.line("}");
    }

    /// Removes fabric-owned objects of `menu` that this generation did not touch.
    pub fn sweep(&mut self, menu: &str, extra: &str) {
        let current = ros_quote(&format!("^fabric:g{GEN}:"));
        self.line(&format!(
            "{menu} remove [find where {extra}comment~\"^fabric:\" and !(comment~{current})]"
        ));
    }

    /// Wraps the body in one block and fills in the generation tag.
    pub fn finish(self, header: &[String]) -> String {
        let generation = format!("{:08x}", fnv1a(self.body.as_bytes()) as u32);
        let mut out = String::new();
        for h in header {
            out.push_str("# ");
            out.push_str(h);
            out.push('\n');
        }
        out.push_str("{\n");
        out.push_str(&self.body.replace(GEN, &generation));
        out.push_str("}\n");
        out
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
