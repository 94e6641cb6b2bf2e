//! Owns batched UDP I/O on Linux: `recvmmsg(2)` reads up to [`BATCH`] queued datagrams in one
//! system call and `sendmmsg(2)` writes the responses in one, which matters because per-packet
//! system calls, not answer logic, dominate the fast path's cost. This is the only module of
//! the DNS server with `unsafe` code: plain FFI calls on buffers owned by [`Batch`], with the
//! pointer tables rebuilt right before each call (so moving a `Batch` is always safe).

use std::{
    io,
    mem::{self, MaybeUninit},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::RawFd,
    ptr,
};

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;
/// Receive buffer per datagram; longer queries are cut and flagged as truncated.
const BUF: usize = 4096;

/// Receive buffers, source addresses and the system call tables of one UDP socket.
pub(crate) struct Batch {
    bufs: Box<[u8]>,
    names: Box<[libc::sockaddr_storage]>,
    /// Per received datagram: length, address length, cut to `BUF`.
    received: Vec<(usize, libc::socklen_t, bool)>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` are only written right before, and read
// by the kernel only during, a `recv`/`send` call on `&mut self`; they point into `self` or into
// the arena borrowed for that call. Nothing is shared, so moving a `Batch` to another thread
// is sound.
unsafe impl Send for Batch {}

impl Batch {
    pub(crate) fn new() -> Self {
        // SAFETY: all-zero is a valid value of these plain C structs (null pointers, zeros).
        let zeroed = || unsafe { MaybeUninit::<libc::mmsghdr>::zeroed().assume_init() };
        Self {
            bufs: vec![0; BATCH * BUF].into_boxed_slice(),
            // SAFETY: as above.
            names: vec![unsafe { mem::zeroed::<libc::sockaddr_storage>() }; BATCH].into(),
            iovecs: vec![
                libc::iovec {
                    iov_base: ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ]
            .into(),
            headers: (0..BATCH).map(|_| zeroed()).collect(),
            received: Vec::with_capacity(BATCH),
        }
    }

    /// Reads the datagrams queued on `fd` (non-blocking): `Ok(n)` with `n >= 1`, or
    /// `WouldBlock` when none is queued.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.received.clear();
        for i in 0..BATCH {
            self.iovecs[i] = libc::iovec {
                iov_base: self.bufs[i * BUF..].as_mut_ptr().cast(),
                iov_len: BUF,
            };
            let header = &mut self.headers[i];
            header.msg_len = 0;
            header.msg_hdr.msg_name = ptr::from_mut(&mut self.names[i]).cast();
            header.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as _;
            header.msg_hdr.msg_iov = ptr::from_mut(&mut self.iovecs[i]);
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
        }
        // SAFETY: every header points at a live iovec, a live sockaddr_storage with its size,
        // and a buffer of BUF bytes inside `self.bufs`; the kernel writes at most that much.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                BATCH as _,
                libc::MSG_DONTWAIT as _,
                ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for header in &self.headers[..n as usize] {
            let len = (header.msg_len as usize).min(BUF);
            let cut = header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.received.push((len, header.msg_hdr.msg_namelen, cut));
        }
        Ok(self.received.len())
    }

    /// Datagram `i` of the last [`Self::recv`]: bytes, source (None for an unexpected address
    /// family) and whether it was cut to the buffer size.
    pub(crate) fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>, bool) {
        let (len, _, cut) = self.received[i];
        (
            &self.bufs[i * BUF..i * BUF + len],
            to_socket_addr(&self.names[i]),
            cut,
        )
    }

    /// Sends `replies` — `(offset, length, datagram index)` into `arena`, each to the source of
    /// that received datagram — non-blocking. Returns how many were sent (at least one), or
    /// `WouldBlock` when the socket buffer is full.
    pub(crate) fn send(
        &mut self,
        fd: RawFd,
        arena: &[u8],
        replies: &[(usize, usize, usize)],
    ) -> io::Result<usize> {
        let count = replies.len().min(BATCH);
        for (slot, &(offset, len, index)) in replies[..count].iter().enumerate() {
            assert!(offset + len <= arena.len());
            let namelen = self.received[index].1;
            // The kernel only reads through this pointer for sendmmsg.
            self.iovecs[slot] = libc::iovec {
                iov_base: arena[offset..].as_ptr().cast_mut().cast(),
                iov_len: len,
            };
            let header = &mut self.headers[slot];
            header.msg_len = 0;
            header.msg_hdr.msg_name = ptr::from_mut(&mut self.names[index]).cast();
            header.msg_hdr.msg_namelen = namelen;
            header.msg_hdr.msg_iov = ptr::from_mut(&mut self.iovecs[slot]);
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
        }
        // SAFETY: the first `count` headers point at live iovecs over `arena` (bounds checked
        // above) and at received source addresses with the length the kernel reported.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                self.headers.as_mut_ptr(),
                count as _,
                libc::MSG_DONTWAIT as _,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

fn to_socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is sized for.
            let v4 = unsafe { &*ptr::from_ref(name).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: as above for sockaddr_in6.
            let v6 = unsafe { &*ptr::from_ref(name).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            let port = u16::from_be(v6.sin6_port);
            Some(SocketAddrV6::new(ip, port, v6.sin6_flowinfo, v6.sin6_scope_id).into())
        }
        _ => None,
    }
}
