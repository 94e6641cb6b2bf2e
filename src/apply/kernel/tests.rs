use super::*;
use crate::apply::diff::tests::peer as plan_peer;
use crate::model::PrivateKey;

#[test]
fn classifies_links_from_sysfs_and_the_uapi_socket() {
    let wg = "MAJOR=\nINTERFACE=wg0\nIFINDEX=7\nDEVTYPE=wireguard\n";
    let tun = "INTERFACE=wg0\nIFINDEX=7\n";
    assert_eq!(classify(None, false, false), LinkKind::Missing);
    assert_eq!(classify(Some(wg), false, false), LinkKind::Kernel);
    assert_eq!(classify(Some(tun), true, true), LinkKind::Userspace);
    // A TUN without a wireguard-go socket (dead daemon) or a bridge: neither.
    assert_eq!(classify(Some(tun), true, false), LinkKind::Other);
    assert_eq!(
        classify(Some("INTERFACE=br0\nDEVTYPE=bridge\n"), false, false),
        LinkKind::Other
    );
}

#[test]
fn finds_the_module_in_modules_dep_and_builtin_in_any_compression() {
    assert!(module_listed(
        "kernel/drivers/net/wireguard/wireguard.ko: kernel/lib/crypto/libchacha.ko\n"
    ));
    assert!(module_listed(
        "kernel/drivers/net/wireguard/wireguard.ko.xz: kernel/lib/x.ko.xz\n"
    ));
    assert!(module_listed("kernel/drivers/net/wireguard/wireguard.ko\n"));
    assert!(!module_listed(
        "kernel/drivers/net/tun.ko:\nkernel/drivers/net/wireguardx.ko:\n"
    ));
    assert!(!module_listed(""));
}

#[test]
fn peer_requests_remove_last_and_spell_out_keepalive_and_psk() {
    let mut added = plan_peer("nuc", None, &["10.0.12.31/32"]);
    added.keepalive = None;
    let hub = plan_peer("chr01", Some("203.0.113.10:51820"), &["10.0.12.0/24"]);
    let gone = PrivateKey::generate().public_key();
    let ops = peer_ops(&[
        WgChange::AddPeer(added.clone()),
        WgChange::UpdatePeer {
            peer: hub.clone(),
            fields: vec![PeerField::PresharedKeyRemoved],
        },
        WgChange::RemovePeer {
            public_key: gone,
            node: None,
        },
        WgChange::LinkUp,
    ]);
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert_eq!(ops[2], PeerOp::Remove(Key::new(*gone.as_bytes())));
    let PeerOp::Set(new) = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(new.public_key, Key::new(*added.public_key.as_bytes()));
    assert_eq!(
        new.persistent_keepalive_interval, None,
        "new peer: say nothing"
    );
    assert_eq!(new.allowed_ips.len(), 1);
    let PeerOp::Set(updated) = &ops[1] else {
        panic!("{ops:?}")
    };
    assert_eq!(updated.persistent_keepalive_interval, Some(25));
    assert_eq!(updated.endpoint, hub.endpoint);
    assert_eq!(
        updated.preshared_key,
        Some(Key::new([0; 32])),
        "psk cleared"
    );
}

#[test]
fn interface_keys_go_through_wg_set_with_the_key_on_stdin_only() {
    let key = PrivateKey::generate();
    let changes = [
        WgChange::SetListenPort {
            from: None,
            to: 51820,
        },
        WgChange::SetPrivateKey {
            key: key.clone(),
            from: None,
            to: key.public_key(),
        },
    ];
    let args = wg_set_args(&changes).unwrap();
    assert_eq!(
        args,
        ["listen-port", "51820", "private-key", "/proc/self/fd/0"].map(String::from)
    );
    assert!(!args.iter().any(|a| a.contains(&key.expose_base64())));
    assert_eq!(private_key_of(&changes), Some(key.expose_base64()));
    assert_eq!(wg_set_args(&[WgChange::LinkUp]), None);
}

#[test]
fn auto_keeps_an_existing_interfaces_implementation() {
    // No such link on this machine: a missing interface goes to the default.
    let name: Ifname = "fabrictst9".parse().unwrap();
    assert!(AutoBackend::new(true).kernel_for(&name));
    assert!(!AutoBackend::new(false).kernel_for(&name));
    // Loopback exists and is neither kind: the default decides (and its read will refuse).
    let lo: Ifname = "lo".parse().unwrap();
    assert_eq!(link_kind(&lo), LinkKind::Other);
}
