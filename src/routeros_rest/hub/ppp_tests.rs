//! Table tests of the SSTP side of a hub push: CHR02's `/ppp/profile` and `/ppp/secret`
//! records in `primary` with every client's password held, live tables edited per case, the
//! operations expected — and the password rule (sent once, never shown, never empty).

use std::collections::BTreeMap;

use super::diff_tests::{apply, in_sync, ops, setup};
use super::*;
use crate::model::Secret;

const KEY: &[u8] = b"a test marking key, 32 bytes ...";

fn password(client: &str) -> String {
    format!("Pw-{client}-7xQ")
}

/// One key ring for the whole file (`setup` generates fresh keys on every call).
fn fixed_setup() -> (
    crate::model::Topology,
    crate::plan::KeyRing,
    crate::render::Secrets,
) {
    static ONCE: std::sync::OnceLock<(
        crate::model::Topology,
        crate::plan::KeyRing,
        crate::render::Secrets,
    )> = std::sync::OnceLock::new();
    ONCE.get_or_init(setup).clone()
}

/// CHR02's desired records with the passwords of all clients except `without`, marked.
fn chr02_with(without: &[&str], rotated: Option<&str>) -> Desired {
    let (t, ring, mut secrets) = fixed_setup();
    for c in t.sstp.iter().flat_map(|s| &s.clients) {
        let name = c.name.as_str();
        if without.contains(&name) {
            continue;
        }
        let pw = if rotated == Some(name) {
            format!("{}-new", password(name))
        } else {
            password(name)
        };
        secrets.passwords.insert(c.name.clone(), Secret::new(pw));
    }
    let plan = crate::plan::plan(&t, &ring, "primary").unwrap();
    let mut d = desired(&plan.nodes[&"chr02".parse().unwrap()], &secrets);
    d.mark_passwords(KEY);
    d
}

fn chr02() -> Desired {
    chr02_with(&[], None)
}

/// The marks of a hub that holds every desired password.
fn all_marks(d: &Desired) -> BTreeMap<String, String> {
    d.objects
        .iter()
        .filter_map(|o| Some((o.record.get("name")?.clone(), o.password_mark.clone()?)))
        .collect()
}

fn secret<'a>(live: &'a mut BTreeMap<Menu, Vec<Record>>, user: &str) -> &'a mut Record {
    live.get_mut(&Menu::PppSecret)
        .unwrap()
        .iter_mut()
        .find(|r| r["name"] == user)
        .unwrap()
}

/// `in_sync` as RouterOS answers a user without the `sensitive` policy: no passwords.
fn hidden(d: &Desired) -> BTreeMap<Menu, Vec<Record>> {
    in_sync(d)
}

fn shown_everywhere(text: &str) -> Option<String> {
    ["client-a-hq", "client-a-shop", "client-b"]
        .iter()
        .map(|c| password(c))
        .find(|p| text.contains(p.as_str()))
}

#[test]
fn profile_and_secrets_carry_the_rsc_values() {
    let d = chr02();
    let profile = d
        .objects
        .iter()
        .find(|o| o.menu == Menu::PppProfile)
        .unwrap();
    assert_eq!(profile.what, "sstp");
    assert_eq!(profile.record["name"], "fabric-sstp");
    assert_eq!(profile.record["local-address"], "10.0.13.2");
    assert_eq!(profile.record["only-one"], "yes");
    assert!(
        !profile.record.contains_key("disabled"),
        "profiles have none"
    );
    let b = d
        .objects
        .iter()
        .find(|o| o.what == "client=client-b Other client router")
        .unwrap();
    assert_eq!(b.menu, Menu::PppSecret);
    assert_eq!(b.record["name"], "client-b");
    assert_eq!(b.record["service"], "sstp");
    assert_eq!(b.record["profile"], "fabric-sstp");
    assert_eq!(b.record["remote-address"], "10.0.13.13");
    assert_eq!(b.record["routes"], "192.168.60.0/24 10.0.13.13 1");
    assert_eq!(b.record["disabled"], "false");
    assert!(
        !b.record.contains_key("password"),
        "kept apart from the record"
    );
    assert_eq!(b.password.as_ref().unwrap().expose(), password("client-b"));
    // The same values as the rendered .rsc.
    let (t, ring, mut secrets) = setup();
    secrets.passwords.insert(
        "client-b".parse().unwrap(),
        Secret::new(password("client-b")),
    );
    let plan = crate::plan::plan(&t, &ring, "primary").unwrap();
    let rsc = crate::render::render(&plan, &secrets)
        .into_iter()
        .find(|a| a.path == "routeros/chr02.rsc")
        .unwrap()
        .contents;
    assert!(rsc.contains("name=\"client-b\" service=sstp profile=\"fabric-sstp\""));
    assert!(rsc.contains("remote-address=10.0.13.13 routes=\"192.168.60.0/24 10.0.13.13 1\""));
    assert!(
        rsc.contains("local-address=10.0.13.2 use-encryption=yes change-tcp-mss=yes only-one=yes")
    );
}

type Edit = fn(&mut BTreeMap<Menu, Vec<Record>>);

#[test]
fn table_of_live_ppp_states_and_the_operations_they_need() {
    let d = chr02();
    let g = &d.generation;
    let marks = all_marks(&d);
    let b = "client=client-b Other client router";
    let cases: Vec<(&str, Edit, Vec<String>, usize)> = vec![
        ("in sync, passwords remembered", |_| {}, vec![], 0),
        (
            "RouterOS spellings of the same routes and flags",
            |l| {
                let s = secret(l, "client-b");
                s.insert("routes".into(), "192.168.60.0/24  10.0.13.13 1,".into());
                s.insert("disabled".into(), "no".into());
            },
            vec![],
            0,
        ),
        (
            "a changed remote-address is set in place, without the password",
            |l| {
                secret(l, "client-b").insert("remote-address".into(), "10.0.13.99".into());
            },
            vec![format!(
                "set /ppp/secret *D ({b}) comment=\"fabric:g{g}:{b}\" remote-address=\"10.0.13.13\""
            )],
            0,
        ),
        (
            "changed routes are set in place",
            |l| {
                secret(l, "client-b")
                    .insert("routes".into(), "192.168.61.0/24 10.0.13.13 1".into());
            },
            vec![format!(
                "set /ppp/secret *D ({b}) comment=\"fabric:g{g}:{b}\" routes=\"192.168.60.0/24 10.0.13.13 1\""
            )],
            0,
        ),
        (
            "a secret disabled by hand is enabled again",
            |l| {
                secret(l, "client-b").insert("disabled".into(), "true".into());
            },
            vec![format!(
                "set /ppp/secret *D ({b}) comment=\"fabric:g{g}:{b}\" disabled=\"false\""
            )],
            0,
        ),
        (
            "a profile's changed local-address is set",
            |l| {
                l.get_mut(&Menu::PppProfile).unwrap()[0]
                    .insert("local-address".into(), "10.0.13.9".into());
            },
            vec![format!(
                "set /ppp/profile *A (sstp) comment=\"fabric:g{g}:sstp\" local-address=\"10.0.13.2\""
            )],
            0,
        ),
        (
            "a fabric secret of a client that left is removed",
            |l| {
                let mut gone = secret(l, "client-b").clone();
                gone.insert(".id".into(), "*70".into());
                gone.insert("name".into(), "client-gone".into());
                gone.insert("comment".into(), "fabric:g1:client=client-gone".into());
                l.get_mut(&Menu::PppSecret).unwrap().push(gone);
            },
            vec!["remove /ppp/secret *70 (client=client-gone)".into()],
            0,
        ),
        (
            "a hand-made secret with a client's name is a conflict, left alone",
            |l| {
                let s = secret(l, "client-b");
                s.insert("comment".into(), "made by hand".into());
                s.insert("remote-address".into(), "10.9.9.9".into());
            },
            vec![],
            1,
        ),
        (
            "secrets and profiles fabric does not own are never touched",
            |l| {
                let mut other = secret(l, "client-b").clone();
                other.insert(".id".into(), "*60".into());
                other.insert("name".into(), "dial-in".into());
                other.remove("comment");
                l.get_mut(&Menu::PppSecret).unwrap().push(other);
                let mut p = l[&Menu::PppProfile][0].clone();
                p.insert(".id".into(), "*61".into());
                p.insert("name".into(), "default-encryption".into());
                p.remove("comment");
                l.get_mut(&Menu::PppProfile).unwrap().push(p);
            },
            vec![],
            0,
        ),
    ];
    for (name, edit, want, conflicts) in cases {
        let mut live = in_sync(&d);
        edit(&mut live);
        let got = diff_remembering(&d, &live, &marks);
        assert_eq!(ops(&got), want, "case: {name}");
        assert_eq!(
            got.conflicts.len(),
            conflicts,
            "case {name}: {:?}",
            got.conflicts
        );
        assert!(got.warnings.is_empty(), "case {name}: {:?}", got.warnings);
        if conflicts == 0 {
            assert_eq!(got.marks, marks, "case: {name}");
        } else {
            assert!(
                !got.marks.contains_key("client-b"),
                "a foreign secret's password is not ours"
            );
        }
        let after = apply(live, &got);
        assert_eq!(
            ops(&diff_remembering(&d, &after, &got.marks)),
            Vec::<String>::new(),
            "case: {name}: converges"
        );
    }
}

#[test]
fn a_missing_secret_is_added_with_its_password_after_the_profile() {
    let d = chr02();
    let got = diff_remembering(&d, &BTreeMap::new(), &BTreeMap::new());
    let ppp: Vec<_> = got
        .ops
        .iter()
        .filter(|o| matches!(o.menu, Menu::PppProfile | Menu::PppSecret))
        .collect();
    assert_eq!(ppp.len(), 4);
    assert_eq!(ppp[0].menu, Menu::PppProfile, "the profile comes first");
    let last_wg = got
        .ops
        .iter()
        .rposition(|o| o.menu == Menu::IpRoute)
        .unwrap();
    let first_ppp = got
        .ops
        .iter()
        .position(|o| o.menu == Menu::PppProfile)
        .unwrap();
    assert!(last_wg < first_ppp);
    for op in &ppp[1..] {
        assert_eq!(op.kind, OpKind::Add);
        assert_eq!(op.body["password"], password(&op.body["name"]));
        assert!(op.to_string().contains(" password=*** "), "{op}");
    }
    assert_eq!(got.marks, all_marks(&d));
    // A stale secret leaves before a stale profile (RouterOS keeps a profile in use).
    let mut live = in_sync(&d);
    for (menu, name) in [
        (Menu::PppProfile, "old-sstp"),
        (Menu::PppSecret, "old-client"),
    ] {
        let mut r = live[&menu][0].clone();
        r.insert(".id".into(), format!("*{name}"));
        r.insert("name".into(), name.into());
        r.insert("comment".into(), format!("fabric:g1:{name}"));
        live.get_mut(&menu).unwrap().push(r);
    }
    let got = diff_remembering(&d, &live, &all_marks(&d));
    assert_eq!(
        ops(&got),
        [
            "remove /ppp/secret *old-client (old-client)",
            "remove /ppp/profile *old-sstp (old-sstp)"
        ]
    );
}

#[test]
fn a_password_is_sent_once_then_only_when_it_changed() {
    let d = chr02();
    // First push after an .rsc import: nothing remembered, the hub hides passwords → each
    // held password is set once, and the marks to remember come back.
    let got = diff_remembering(&d, &hidden(&d), &BTreeMap::new());
    assert_eq!(got.ops.len(), 3, "{:?}", got.ops);
    for op in &got.ops {
        assert!(matches!(op.kind, OpKind::Set { .. }));
        assert_eq!(
            op.body.keys().collect::<Vec<_>>(),
            ["comment", "password"],
            "{op}"
        );
    }
    assert_eq!(got.marks, all_marks(&d));
    // Every later verify: nothing to do.
    for _ in 0..3 {
        let again = diff_remembering(&d, &hidden(&d), &got.marks);
        assert!(again.ops.is_empty(), "{:?}", again.ops);
    }
    // client-b's password rotated in the secrets directory: only it is sent.
    let rotated = chr02_with(&[], Some("client-b"));
    let got2 = diff_remembering(&rotated, &hidden(&d), &got.marks);
    assert_eq!(got2.ops.len(), 1, "{:?}", got2.ops);
    assert!(!got2.ops[0].body.contains_key("name"), "{}", got2.ops[0]);
    assert_eq!(
        got2.ops[0].body["password"],
        format!("{}-new", password("client-b"))
    );
    assert_ne!(got2.marks["client-b"], got.marks["client-b"]);
    assert_eq!(got2.marks["client-a-hq"], got.marks["client-a-hq"]);
    // A hub that shows passwords (REST user with the `sensitive` policy) is compared directly.
    let mut shown = in_sync(&d);
    for r in shown.get_mut(&Menu::PppSecret).unwrap() {
        let pw = password(&r["name"]);
        r.insert("password".into(), pw);
    }
    let got = diff_remembering(&d, &shown, &BTreeMap::new());
    assert!(got.ops.is_empty(), "{:?}", got.ops);
    assert_eq!(got.marks, all_marks(&d));
    secret(&mut shown, "client-b").insert("password".into(), "changed-by-hand".into());
    let got = diff_remembering(&d, &shown, &all_marks(&d));
    assert_eq!(got.ops.len(), 1);
    assert_eq!(got.ops[0].body["password"], password("client-b"));
    // Without any memory (`fabric hub push` without --state-dir) every held password is sent.
    let mut unmarked = chr02();
    unmarked
        .objects
        .iter_mut()
        .for_each(|o| o.password_mark = None);
    assert_eq!(diff(&unmarked, &hidden(&d)).ops.len(), 3);
    assert!(diff(&unmarked, &hidden(&d)).marks.is_empty());
}

#[test]
fn a_client_without_a_password_is_skipped_never_pushed_empty() {
    let d = chr02_with(&["client-b"], None);
    let b = d
        .objects
        .iter()
        .find(|o| o.record.get("name").is_some_and(|n| n == "client-b"))
        .unwrap();
    assert!(b.password.is_none() && b.password_mark.is_none());
    // Not on the hub: not added, one warning naming it.
    let got = diff_remembering(&d, &BTreeMap::new(), &BTreeMap::new());
    assert!(
        !got.ops
            .iter()
            .any(|o| o.body.get("name").is_some_and(|n| n == "client-b"))
    );
    let warned: Vec<_> = got
        .warnings
        .iter()
        .filter(|w| w.contains("client-b"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", got.warnings);
    assert!(warned[0].contains("no SSTP password held") && warned[0].contains("not added"));
    assert!(!got.marks.contains_key("client-b"));
    // On the hub: its other fields are still kept in step, its password left alone.
    let mut live = in_sync(&d);
    secret(&mut live, "client-b").insert("remote-address".into(), "10.0.13.99".into());
    let old = BTreeMap::from([("client-b".to_string(), "f00d".to_string())]);
    let got = diff_remembering(&d, &live, &old);
    let set: Vec<_> = got
        .ops
        .iter()
        .filter(|o| o.menu == Menu::PppSecret && o.what.contains("client-b"))
        .collect();
    assert_eq!(set.len(), 1);
    assert!(!set[0].body.contains_key("password"), "{}", set[0]);
    assert_eq!(
        got.marks["client-b"], "f00d",
        "what the hub holds is still remembered"
    );
    assert!(got.warnings.iter().any(|w| w.contains("left as it is")));
    for op in &got.ops {
        assert!(op.body.get("password").is_none_or(|p| !p.is_empty()));
    }
}

#[test]
fn passwords_are_never_shown_nor_hashed() {
    let d = chr02();
    let got = diff_remembering(&d, &BTreeMap::new(), &BTreeMap::new());
    let text = format!(
        "{} {:?} {:?} {:?}",
        got.ops
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        got.ops,
        got,
        d
    );
    assert_eq!(shown_everywhere(&text), None, "a password was shown");
    assert!(text.contains("password=***"));
    assert!(text.contains("password: Some(\"***\")"));
    let mut store = crate::routeros_rest::store::Store::default();
    for op in &got.ops {
        store.add(op.menu, &op.body).unwrap();
    }
    assert_eq!(shown_everywhere(&format!("{store:?}")), None);
    // The content hash does not depend on passwords; the marks do, keyed.
    let without = chr02_with(&["client-a-hq", "client-a-shop", "client-b"], None);
    let rotated = chr02_with(&[], Some("client-b"));
    assert_eq!(d.content_hash(), without.content_hash());
    assert_eq!(d.content_hash(), rotated.content_hash());
    let mark = |d: &Desired| all_marks(d)["client-b"].clone();
    assert_ne!(mark(&d), mark(&rotated));
    assert_eq!(mark(&d).len(), 32);
    assert_ne!(
        password_mark(KEY, "client-b", &Secret::new("x")),
        password_mark(b"another key", "client-b", &Secret::new("x"))
    );
}

#[test]
fn a_hub_clients_prefer_refuses_them_while_the_layouts_sstp_hub_is_another() {
    let (t, ring, secrets) = fixed_setup();
    let chr01 = "chr01".parse().unwrap();
    let disabled = |layout: &str| -> Vec<String> {
        let plan = crate::plan::plan(&t, &ring, layout).unwrap();
        desired(&plan.nodes[&chr01], &secrets)
            .objects
            .iter()
            .filter(|o| o.menu == Menu::PppSecret)
            .map(|o| o.record["disabled"].clone())
            .collect()
    };
    assert_eq!(disabled("primary"), ["false"; 3]);
    assert_eq!(disabled("split-role"), ["false"; 3]);
    // Clients route through chr01 first: while chr02 has the SSTP role, chr01 refuses them.
    assert_eq!(disabled("chr02"), ["true"; 3]);
}
