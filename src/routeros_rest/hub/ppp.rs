//! The SSTP side of a hub push (pure): the `/ppp/profile` the `.rsc` creates (`fabric-sstp`,
//! which every secret names, so it must exist before them) and one `/ppp/secret` per client
//! router, with the `.rsc`'s values and comment labels.
//!
//! Passwords: a secret carries its client's password only when the pusher holds it; a
//! secret without one is never added (the diff warns) — never with an empty password. The
//! password is not a compared field: RouterOS answers it only to a REST user with the
//! `sensitive` policy, so the diff sends it when the secret is added, when the hub shows a
//! different one, or when the keyed [`password_mark`] the pusher remembers for this hub and
//! user is not the current password's — so a verify every 30 s does not rewrite it.

use super::{Object, rec};
use crate::model::Secret;
use crate::plan::SstpServerPlan;
use crate::render::Secrets;
use crate::render::routeros::{SSTP_PROFILE, secret_label, secret_routes};
use crate::routeros_rest::Menu;

/// The profile and secrets `sstp` needs on its hub.
pub(super) fn objects(sstp: &SstpServerPlan, secrets: &Secrets) -> Vec<Object> {
    let mut out = vec![Object::plain(
        Menu::PppProfile,
        "sstp",
        rec(&[
            ("name", SSTP_PROFILE),
            ("local-address", &sstp.local_address.to_string()),
            ("use-encryption", "yes"),
            ("change-tcp-mss", "yes"),
            ("only-one", "yes"),
        ]),
    )];
    for c in &sstp.secrets {
        let mut o = Object::plain(
            Menu::PppSecret,
            &secret_label(c),
            rec(&[
                ("name", &c.user),
                ("service", "sstp"),
                ("profile", SSTP_PROFILE),
                ("remote-address", &c.remote_address.to_string()),
                ("routes", &secret_routes(c)),
                ("disabled", if sstp.serving { "false" } else { "true" }),
            ]),
        );
        o.password = secrets.passwords.get(&c.client).cloned();
        out.push(o);
    }
    out
}

/// HMAC-SHA256(`key`, user ‖ 0 ‖ password), 128 bits in hex: what a pusher remembers of the
/// password it set for `user` on a hub. Without `key` (kept in the pusher's state directory,
/// never on the router) it tells nothing about the password.
pub fn password_mark(key: &[u8], user: &str, password: &Secret) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&k);
    ctx.update(user.as_bytes());
    ctx.update(&[0]);
    ctx.update(password.expose().as_bytes());
    ctx.sign().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
