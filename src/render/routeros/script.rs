//! A small builder for idempotent RouterOS script text.

use crate::render::quote::ros_quote;

/// Placeholder for the generation tag, replaced once the body is complete. A raw control
/// byte: `ros_quote` writes every control byte as `\XX`, so no quoted value (a site name,
/// a user, a password) can ever contain it.
const GEN: &str = "\u{1}GEN\u{1}";

/// `prefix` (plain ASCII that quoting leaves alone) + the placeholder + `rest`, as one quoted
/// value.
fn quoted_with_gen(prefix: &str, rest: &str) -> String {
    let quoted = ros_quote(&format!("{prefix}{rest}"));
    debug_assert!(quoted[1..].starts_with(prefix));
    format!("\"{prefix}{GEN}{}", &quoted[1 + prefix.len()..])
}

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
        quoted_with_gen("fabric:g", &format!(":{what}"))
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

    /// Disables the fabric-owned PPP secrets the sweep is about to remove and ends their SSTP
    /// sessions: RouterOS keeps a session up when its secret goes, and a disabled secret
    /// cannot log in again before the sweep removes it.
    pub fn end_swept_ppp_sessions(&mut self) {
        let current = quoted_with_gen("^fabric:g", ":");
        self.line(&format!(
            ":foreach i in=[/ppp secret find where comment~\"^fabric:\" and !(comment~{current})] do={{"
        ));
        self.line("  /ppp secret disable $i");
        self.line("  :local n [/ppp secret get $i name]");
        self.line("  /ppp active remove [find where name=$n and service=sstp]");
        self.line("}");
    }

    /// Removes fabric-owned objects of `menu` that this generation did not touch.
    pub fn sweep(&mut self, menu: &str, extra: &str) {
        let current = quoted_with_gen("^fabric:g", ":");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_fills_tags_and_never_user_data() {
        let mut s = Script::new();
        let user = ros_quote("ops@GEN@b\u{1}GEN\u{1}");
        s.line(&format!(
            "/ppp secret add name={user} comment={}",
            Script::tag("x")
        ));
        s.sweep("/ppp secret", "");
        let out = s.finish(&[]);
        let at = out.find("comment=\"fabric:g").expect("tagged") + "comment=\"fabric:g".len();
        let generation = &out[at..at + 8];
        assert!(generation.bytes().all(|b| b.is_ascii_hexdigit()), "{out}");
        assert!(out.contains("name=\"ops@GEN@b\\01GEN\\01\""), "{out}");
        assert!(
            out.contains(&format!("comment=\"fabric:g{generation}:x\"")),
            "{out}"
        );
        assert!(
            out.contains(&format!("!(comment~\"^fabric:g{generation}:\")")),
            "{out}"
        );
        assert!(!out.contains('\u{1}'), "{out}");
    }
}
