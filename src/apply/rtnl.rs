//! Reads one link's state straight from the kernel over rtnetlink (one socket, three
//! requests): MTU and admin state, its IPv4 addresses, and the main-table IPv4 routes through
//! it tagged with fabric's route protocol. Replaces two `ip -j` processes per read, whose
//! fork + exec ran beside the topology load and slowed it on small machines.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::Ipv4Net;

use super::ip::LinkObserved;

const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;
const IFADDRMSG: usize = 8;
const RTMSG: usize = 12;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u32 = 254;

/// The link `ifname` in this network namespace, or `None` when there is no such link.
/// `proto` is the route protocol whose routes are reported.
pub fn read(ifname: &str, proto: u8, timeout: Duration) -> anyhow::Result<Option<LinkObserved>> {
    let Some(index) = if_index(ifname) else {
        return Ok(None);
    };
    let sock = Socket::open(timeout).context("opening an rtnetlink socket")?;
    let mut link_req = [0u8; IFINFOMSG];
    link_req[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut observed = LinkObserved::default();
    let mut found = false;
    sock.request(libc::RTM_GETLINK, 0, &link_req, |kind, body| {
        if kind == libc::RTM_NEWLINK
            && let Some(link) = parse_link(body, index)
        {
            (observed.mtu, observed.up, found) = (link.0, link.1, true);
        }
    })
    .or_else(
        |e| match e.downcast_ref::<io::Error>().and_then(|e| e.raw_os_error()) {
            Some(libc::ENODEV) => Ok(()), // gone between the lookup and the request
            _ => Err(e),
        },
    )
    .with_context(|| format!("reading link {ifname}"))?;
    if !found {
        return Ok(None);
    }
    let addr_req = [libc::AF_INET as u8, 0, 0, 0, 0, 0, 0, 0];
    sock.request(
        libc::RTM_GETADDR,
        libc::NLM_F_DUMP,
        &addr_req,
        |kind, body| {
            if kind == libc::RTM_NEWADDR {
                observed.addresses.extend(parse_address(body, index));
            }
        },
    )
    .with_context(|| format!("reading the addresses of {ifname}"))?;
    let mut route_req = [0u8; RTMSG];
    route_req[0] = libc::AF_INET as u8;
    sock.request(
        libc::RTM_GETROUTE,
        libc::NLM_F_DUMP,
        &route_req,
        |kind, body| {
            if kind == libc::RTM_NEWROUTE {
                observed.routes.extend(parse_route(body, index, proto));
            }
        },
    )
    .with_context(|| format!("reading the routes of {ifname}"))?;
    Ok(Some(observed))
}

fn if_index(ifname: &str) -> Option<u32> {
    let name = std::ffi::CString::new(ifname).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// (MTU, admin up) of an RTM_NEWLINK body when it is link `index`.
fn parse_link(body: &[u8], index: u32) -> Option<(Option<u16>, bool)> {
    let head = body.get(..IFINFOMSG)?;
    if u32_at(head, 4) != index {
        return None;
    }
    let up = u32_at(head, 8) & libc::IFF_UP as u32 != 0;
    let mtu = attrs(&body[IFINFOMSG..])
        .find(|(kind, _)| *kind == IFLA_MTU)
        .and_then(|(_, v)| (v.len() >= 4).then(|| u32_at(v, 0)))
        .and_then(|m| u16::try_from(m).ok());
    Some((mtu, up))
}

/// The IPv4 address of an RTM_NEWADDR body on link `index` (its local address, as `ip addr`
/// shows it).
fn parse_address(body: &[u8], index: u32) -> Option<Ipv4Net> {
    let head = body.get(..IFADDRMSG)?;
    if head[0] != libc::AF_INET as u8 || u32_at(head, 4) != index {
        return None;
    }
    let (mut local, mut address) = (None, None);
    for (kind, value) in attrs(&body[IFADDRMSG..]) {
        match kind {
            IFA_LOCAL => local = ipv4(value),
            IFA_ADDRESS => address = ipv4(value),
            _ => {}
        }
    }
    Ipv4Net::new(local.or(address)?, head[1]).ok()
}

/// The destination of an RTM_NEWROUTE body when it is a main-table IPv4 route through link
/// `index` with protocol `proto`.
fn parse_route(body: &[u8], index: u32, proto: u8) -> Option<Ipv4Net> {
    let head = body.get(..RTMSG)?;
    let (family, dst_len, table, protocol) = (head[0], head[1], head[4], head[5]);
    if family != libc::AF_INET as u8 || protocol != proto {
        return None;
    }
    let (mut dst, mut oif, mut table) = (None, None, u32::from(table));
    for (kind, value) in attrs(&body[RTMSG..]) {
        match kind {
            RTA_DST => dst = ipv4(value),
            RTA_OIF if value.len() >= 4 => oif = Some(u32_at(value, 0)),
            RTA_TABLE if value.len() >= 4 => table = u32_at(value, 0),
            _ => {}
        }
    }
    if oif != Some(index) || table != RT_TABLE_MAIN {
        return None;
    }
    Ipv4Net::new(dst.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED), dst_len).ok()
}

fn ipv4(value: &[u8]) -> Option<std::net::Ipv4Addr> {
    let octets: [u8; 4] = value.try_into().ok()?;
    Some(octets.into())
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The (type, value) pairs of a run of route attributes; stops at the first malformed one.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16_at(buf, 0));
        if len < 4 || len > buf.len() {
            return None;
        }
        let item = (u16_at(buf, 2) & 0x3fff, &buf[4..len]);
        buf = &buf[align4(len).min(buf.len())..];
        Some(item)
    })
}

/// A NETLINK_ROUTE socket with a receive deadline.
struct Socket {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Socket {
    fn open(timeout: Duration) -> io::Result<Socket> {
        // SAFETY: plain socket(2); the result is checked before it is owned.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: timeout.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_usec: timeout.subsec_micros().into(),
        };
        // SAFETY: `tv` outlives the call and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket {
            fd,
            seq: std::cell::Cell::new(0),
        })
    }

    /// Sends one request and hands every answer message (type, body) to `each` until the
    /// kernel says it is done (dumps) or acknowledges (single requests).
    fn request(
        &self,
        kind: u16,
        flags: libc::c_int,
        payload: &[u8],
        mut each: impl FnMut(u16, &[u8]),
    ) -> anyhow::Result<()> {
        // A fresh sequence number per request, so no late answer to one is read as another's.
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        let len = NLMSG_HDR + payload.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        // Dumps end with NLMSG_DONE; a single request asks for an acknowledgement instead.
        let ack = if flags & libc::NLM_F_DUMP == 0 {
            libc::NLM_F_ACK
        } else {
            0
        };
        let flags = (libc::NLM_F_REQUEST | ack | flags) as u16;
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        // SAFETY: `msg` is a valid buffer of `msg.len()` bytes; the kernel is the peer (the
        // socket is unbound, so the default destination is pid 0).
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error().into());
        }
        let mut buf = vec![0u8; 64 * 1024];
        // Bounded: a dump of a few thousand routes is a few dozen datagrams.
        for _ in 0..100_000 {
            // SAFETY: `buf` is writable for `buf.len()` bytes.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    bail!("the kernel did not answer in time");
                }
                return Err(e.into());
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= NLMSG_HDR {
                let mlen = u32_at(rest, 0) as usize;
                if mlen < NLMSG_HDR || mlen > rest.len() {
                    bail!("malformed rtnetlink answer");
                }
                let (mtype, answer_to) = (u16_at(rest, 4), u32_at(rest, 8));
                let body = &rest[NLMSG_HDR..mlen];
                rest = &rest[align4(mlen).min(rest.len())..];
                if answer_to != seq {
                    continue;
                }
                match i32::from(mtype) {
                    libc::NLMSG_DONE => return Ok(()),
                    libc::NLMSG_ERROR => {
                        let errno = body
                            .get(..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()));
                        return match errno {
                            Some(0) => Ok(()),
                            Some(e) => Err(io::Error::from_raw_os_error(-e).into()),
                            None => bail!("malformed rtnetlink error"),
                        };
                    }
                    _ => each(mtype, body),
                }
            }
        }
        bail!("rtnetlink answer did not end")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        v.resize(align4(v.len()), 0);
        v
    }

    #[test]
    fn link_mtu_and_admin_state() {
        let mut body = vec![0u8; IFINFOMSG];
        body[4..8].copy_from_slice(&7u32.to_ne_bytes());
        body[8..12].copy_from_slice(&(libc::IFF_UP as u32 | 0x40).to_ne_bytes());
        body.extend(attr(3, b"wg0\0"));
        body.extend(attr(IFLA_MTU, &1420u32.to_ne_bytes()));
        assert_eq!(parse_link(&body, 7), Some((Some(1420), true)));
        assert_eq!(parse_link(&body, 8), None, "another link");
        body[8..12].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(parse_link(&body, 7), Some((Some(1420), false)));
    }

    #[test]
    fn address_prefers_local_and_skips_other_links_and_families() {
        let mut body = vec![libc::AF_INET as u8, 24, 0, 0];
        body.extend_from_slice(&3u32.to_ne_bytes());
        body.extend(attr(IFA_ADDRESS, &[10, 0, 12, 255]));
        body.extend(attr(IFA_LOCAL, &[10, 0, 12, 1]));
        assert_eq!(
            parse_address(&body, 3),
            Some("10.0.12.1/24".parse().unwrap())
        );
        assert_eq!(parse_address(&body, 4), None);
        body[0] = libc::AF_INET6 as u8;
        assert_eq!(parse_address(&body, 3), None);
    }

    fn route(dst: Option<[u8; 4]>, len: u8, proto: u8, oif: u32, table: u32) -> Vec<u8> {
        let mut body = vec![libc::AF_INET as u8, len, 0, 0, 254, proto, 0, 1, 0, 0, 0, 0];
        if let Some(d) = dst {
            body.extend(attr(RTA_DST, &d));
        }
        body.extend(attr(RTA_TABLE, &table.to_ne_bytes()));
        body.extend(attr(RTA_OIF, &oif.to_ne_bytes()));
        body
    }

    #[test]
    fn routes_are_fabric_tagged_main_table_routes_through_the_link() {
        let r = route(Some([10, 42, 60, 0]), 24, 102, 5, 254);
        assert_eq!(
            parse_route(&r, 5, 102),
            Some("10.42.60.0/24".parse().unwrap())
        );
        assert_eq!(parse_route(&r, 6, 102), None, "other link");
        assert_eq!(parse_route(&r, 5, 4), None, "other protocol");
        let other_table = route(Some([10, 42, 60, 0]), 24, 102, 5, 100);
        assert_eq!(parse_route(&other_table, 5, 102), None);
        let default = route(None, 0, 102, 5, 254);
        assert_eq!(
            parse_route(&default, 5, 102),
            Some("0.0.0.0/0".parse().unwrap())
        );
    }

    #[test]
    fn malformed_attributes_end_the_walk() {
        let mut buf = attr(1, &[1, 2, 3, 4]);
        buf.extend_from_slice(&[200, 0, 2, 0]); // claims 200 bytes
        assert_eq!(attrs(&buf).count(), 1);
    }

    #[test]
    fn a_missing_link_is_none() {
        let got = read("fabric-no-such-link0", 102, Duration::from_secs(1)).unwrap();
        assert_eq!(got, None);
    }
}
