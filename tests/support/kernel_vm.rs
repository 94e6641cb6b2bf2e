//! A throwaway QEMU guest with kernel WireGuard, for the tests of fabric's kernel backend on
//! machines whose own kernel has no `wireguard` module (this project's machines and CI).
//!
//! The guest boots a Debian kernel with `wireguard`, 9p and overlay modules under TCG, so no
//! KVM is needed: the one `scripts/install-deps.sh` unpacks into [`CACHED_KERNEL_ROOT`]
//! (`linux-image-amd64`, not installed, nothing on the host changes), else an installed one
//! (`/boot/vmlinuz-V` with `/lib/modules/V`). Its root is an overlay:
//! the host's root filesystem shared read-only over virtio-9p below, the guest's tmpfs above,
//! so every host path (binaries, the repo) reads the same and writes stay in the guest. One
//! host directory (a temp dir) is shared read-write at the same path, for the script and its
//! output. The guest has no network device (`-nic none`): nothing leaves it.
//! The initramfs (busybox, the 9p modules, an init script) is written by this module.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::poll_until;

/// The modules the initramfs loads to mount the host's root over virtio-9p.
const GUEST_MODULES: &[&str] = &["virtio_pci", "9pnet_virtio", "9p", "overlay"];
const QEMU: &str = "qemu-system-x86_64";
/// Where `scripts/install-deps.sh` unpacks the guest kernel package (`boot/`, `lib/modules/`).
pub const CACHED_KERNEL_ROOT: &str = "/var/cache/fabric-test/guest-kernel/root";

/// A kernel installed on the host that a guest can boot with WireGuard.
#[derive(Debug)]
pub struct GuestKernel {
    pub version: String,
    pub vmlinuz: PathBuf,
    /// The root its `boot/` and `lib/modules/V` are under: `/` when installed.
    base: PathBuf,
}

/// What a guest run printed and how its script ended.
#[derive(Debug)]
pub struct GuestRun {
    /// The script's exit status; None when the guest never got to write it (see `console`).
    pub status: Option<i32>,
    /// The script's stdout and stderr.
    pub output: String,
    /// The guest's serial console (kernel messages, the init script's own lines).
    pub console: String,
    pub took: Duration,
}

/// The newest usable kernel of [`CACHED_KERNEL_ROOT`], else of the installed ones, or why
/// there is none.
pub fn find_guest_kernel() -> Result<GuestKernel, String> {
    which(QEMU).ok_or_else(|| format!("{QEMU} is not installed (apt: qemu-system-x86)"))?;
    which("busybox").ok_or("busybox is not installed")?;
    for base in [Path::new(CACHED_KERNEL_ROOT), Path::new("/")] {
        let Ok(entries) = fs::read_dir(base.join("boot")) else {
            continue;
        };
        let mut found: Vec<String> = entries
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("vmlinuz-")
                    .map(String::from)
            })
            .filter(|v| {
                ["wireguard"]
                    .iter()
                    .chain(GUEST_MODULES)
                    .all(|m| module_files(base, v, m).is_ok())
            })
            .collect();
        found.sort_by_key(|v| natural_key(v));
        if let Some(version) = found.pop() {
            return Ok(GuestKernel {
                vmlinuz: base.join(format!("boot/vmlinuz-{version}")),
                version,
                base: base.to_path_buf(),
            });
        }
    }
    Err(format!(
        "no kernel with wireguard, 9p and overlay modules in {CACHED_KERNEL_ROOT} or /boot \
         (scripts/install-deps.sh unpacks one)"
    ))
}

/// Runs `script` (sh, as root, in the guest's chroot of the host root) and powers the guest
/// off. The guest is killed (by PID) at `timeout`.
pub fn run(kernel: &GuestKernel, script: &str, timeout: Duration) -> GuestRun {
    let share = tempfile::Builder::new()
        .prefix("fabric-vm-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let share_path = share.path().to_str().expect("utf-8 temp path").to_string();
    fs::write(share.path().join("cmd.sh"), script).unwrap();
    let initrd = share.path().join("initrd.cpio");
    write_initramfs(kernel, &share_path, &initrd);
    let console_path = share.path().join("console.log");
    let console = fs::File::create(&console_path).unwrap();
    let start = Instant::now();
    let child = Command::new(QEMU)
        .args(["-accel", "tcg,thread=multi", "-m", "1024", "-smp", "2"])
        .args([
            "-nographic",
            "-monitor",
            "none",
            "-no-reboot",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1"])
        .args([
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        ])
        .arg("-virtfs")
        .arg(format!(
            "local,path={share_path},mount_tag=share,security_model=none"
        ))
        .stdin(Stdio::null())
        .stdout(console.try_clone().unwrap())
        .stderr(console)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {QEMU}: {e}"));
    let mut guest = Guest(child);
    let exited = poll_until(timeout, Duration::from_millis(100), || {
        guest.0.try_wait().map_or(true, |s| s.is_some())
    });
    drop(guest);
    let read = |name: &str| fs::read_to_string(share.path().join(name)).unwrap_or_default();
    let status = read("rc").trim().parse().ok();
    let mut console = read("console.log");
    if !exited {
        console.push_str(&format!("\n[test: guest killed after {timeout:?}]\n"));
    }
    GuestRun {
        status,
        output: read("out"),
        console,
        took: start.elapsed(),
    }
}

/// The QEMU process, killed by PID when dropped (also when a test panics).
struct Guest(Child);

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The guest's first process: builds the overlay root, mounts the share, runs the script in
/// a chroot, records its status, powers off.
fn init_script(share: &str, kernel: &GuestKernel) -> String {
    // A kernel that is not installed: its modules appear where modprobe looks for them.
    let modules = if kernel.base == Path::new("/") {
        String::new()
    } else {
        let dir = format!("lib/modules/{}", kernel.version);
        format!(
            "$B mkdir -p /root/{dir}\n$B mount -o bind /root{}/{dir} /root/{dir}\n",
            kernel.base.display()
        )
    };
    format!(
        r#"#!/bin/busybox sh
B=/bin/busybox
die() {{ echo "init: $*"; $B poweroff -f; }}
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /modules.order); do $B insmod /modules/$m || echo "init: insmod $m failed"; done
$B mkdir -p /lower /upper
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro hostroot /lower \
  || die "cannot mount the host root over 9p"
$B mount -t tmpfs upper /upper
$B mkdir -p /upper/rw /upper/work
$B mount -t overlay -o lowerdir=/lower,upperdir=/upper/rw,workdir=/upper/work root /root \
  || die "cannot mount the overlay root"
for d in proc sys dev; do $B mount -o rbind /$d /root/$d; done
$B mount -t tmpfs run /root/run
{modules}$B mkdir -p /root{share}
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /root{share} \
  || die "cannot mount the share"
echo "init: running {share}/cmd.sh"
$B chroot /root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  /bin/sh {share}/cmd.sh > /root{share}/out 2>&1
echo $? > /root{share}/rc
$B sync
$B poweroff -f
"#
    )
}

/// An initramfs (uncompressed newc cpio): busybox with its libraries, the 9p and overlay
/// modules (decompressed, in load order) and the init script.
fn write_initramfs(kernel: &GuestKernel, share: &str, path: &Path) {
    let mut cpio = Cpio::default();
    for dir in [
        "bin", "dev", "proc", "sys", "root", "modules", "lib", "lib64",
    ] {
        cpio.dir(dir);
    }
    cpio.char_device("dev/console", 5, 1);
    let busybox = which("busybox").unwrap();
    cpio.file("bin/busybox", &fs::read(&busybox).unwrap(), 0o755);
    for lib in shared_libraries(&busybox) {
        let rel = lib.to_str().unwrap().trim_start_matches('/').to_string();
        let parent = Path::new(&rel)
            .parent()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        cpio.dir_all(&parent);
        cpio.file(&rel, &fs::read(&lib).unwrap(), 0o755);
    }
    let mut order = String::new();
    for module in GUEST_MODULES {
        for file in module_files(&kernel.base, &kernel.version, module).unwrap() {
            let name = file.file_name().unwrap().to_str().unwrap();
            let name = name.split(".ko").next().unwrap().to_string() + ".ko";
            if order.lines().any(|l| l == name) {
                continue;
            }
            cpio.file(&format!("modules/{name}"), &decompress(&file), 0o644);
            order.push_str(&name);
            order.push('\n');
        }
    }
    cpio.file("modules.order", order.as_bytes(), 0o644);
    cpio.file("init", init_script(share, kernel).as_bytes(), 0o755);
    fs::write(path, cpio.finish()).unwrap();
}

/// The files `modprobe` would load for `module` of kernel `version` under `base`, in order
/// (built-in dependencies need none).
fn module_files(base: &Path, version: &str, module: &str) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("modprobe")
        .arg("-d")
        .arg(base)
        .args(["-S", version, "--show-depends", module])
        .output()
        .map_err(|e| format!("modprobe: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("insmod "))
        .map(|p| PathBuf::from(p.split_whitespace().next().unwrap_or(p)))
        .collect())
}

fn decompress(file: &Path) -> Vec<u8> {
    let tool = match file.extension().and_then(|e| e.to_str()) {
        Some("xz") => "xz",
        Some("zst") => "zstd",
        Some("gz") => "gzip",
        _ => return fs::read(file).unwrap(),
    };
    let out = Command::new(tool).arg("-dc").arg(file).output().unwrap();
    assert!(out.status.success(), "{tool} -dc {}", file.display());
    out.stdout
}

/// The shared libraries `ldd` lists for `binary` (absolute paths, the loader included).
fn shared_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// "6.12.117+deb12-rt-amd64" → numbers first, so 6.12 sorts after 6.1.
fn natural_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// A newc ("070701") cpio archive, the format the kernel unpacks as initramfs.
#[derive(Default)]
struct Cpio {
    data: Vec<u8>,
    inode: u32,
    dirs: Vec<String>,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), body: &[u8]) {
        self.inode += 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.inode,
            mode,
            0,
            0,
            1,
            0,
            body.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.data.extend_from_slice(header.as_bytes());
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad();
        self.data.extend_from_slice(body);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        if !self.dirs.iter().any(|d| d == name) {
            self.dirs.push(name.to_string());
            self.entry(name, 0o040755, (0, 0), &[]);
        }
    }

    fn dir_all(&mut self, path: &str) {
        let mut so_far = String::new();
        for part in path.split('/') {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            self.dir(&so_far.clone());
        }
    }

    fn file(&mut self, name: &str, body: &[u8], perm: u32) {
        self.entry(name, 0o100000 | perm, (0, 0), body);
    }

    fn char_device(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020600, (major, minor), &[]);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        let mut out = Vec::new();
        out.write_all(&self.data).unwrap();
        out
    }
}
