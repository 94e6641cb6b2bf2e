//! Benchmark: validate + plan + render a generated topology of N spokes on two planes.
//!
//! `cargo bench --bench render_scale` runs 1k, 10k and 50k spokes, each in a fresh child
//! process so that peak RSS (VmHWM) belongs to that size alone, and prints wall time, peak
//! RSS, the ratio to the targets (0.5 s, 200 MB at 10k) and the growth per size step
//! against n log n.

use std::process::Command;

/// Same allocator as the fabric binary (src/main.rs), so the figures match the product.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

use base64::Engine;

const SIZES: [usize; 3] = [1_000, 10_000, 50_000];
const TARGET_SECS: f64 = 0.5;
const TARGET_MB: f64 = 200.0;

fn topology(n: usize) -> String {
    let b64 = |i: usize, plane: u8| {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(i as u64).to_le_bytes());
        k[8] = plane;
        base64::engine::general_purpose::STANDARD.encode(k)
    };
    let mut y = String::from(
        "domain: bench.example.com\nplanes:\n  wg0: { purpose: infrastructure, subnet: 10.64.0.0/14, listen_port: 51820 }\n  wg1: { purpose: access, subnet: 10.128.0.0/14, listen_port: 51821 }\nnodes:\n",
    );
    y.push_str(&format!("  hub1:\n    platform: linux\n    endpoint: 192.0.2.1\n    planes:\n      wg0: {{ address: 10.64.0.1, public_key: \"{}\" }}\n      wg1: {{ address: 10.128.0.1, public_key: \"{}\" }}\n", b64(usize::MAX, 0), b64(usize::MAX, 1)));
    for i in 0..n {
        let (hi, lo) = ((i + 2) / 256, (i + 2) % 256);
        y.push_str(&format!(
            "  spoke{i}:\n    platform: linux\n    planes:\n      wg0: {{ address: 10.{}.{hi_m}.{lo}, public_key: \"{}\" }}\n      wg1: {{ address: 10.{}.{hi_m}.{lo}, public_key: \"{}\" }}\n",
            64 + hi / 256,
            b64(i, 0),
            128 + hi / 256,
            b64(i, 1),
            hi_m = hi % 256,
        ));
    }
    y.push_str("layouts:\n  primary: { wg0: hub1, wg1: hub1 }\n");
    y
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Child: generate, then time load → plan → render; print "secs rss_mb artifacts bytes".
fn run_one(n: usize) {
    let text = topology(n);
    let start = Instant::now();
    let t = fabric::validate::load(&text).expect("generated topology is valid");
    let loaded = start.elapsed().as_secs_f64();
    let mut keys = fabric::plan::KeyRing::default();
    for (id, public) in fabric::plan::KeyRing::needed(&t) {
        keys.0
            .insert(id, public.expect("generated keys are explicit"));
    }
    let plan = fabric::plan::plan(&t, &keys, "primary").unwrap();
    let planned = start.elapsed().as_secs_f64();
    let artifacts = fabric::render::render(&plan, &fabric::render::Secrets::default());
    let secs = start.elapsed().as_secs_f64();
    let bytes: usize = artifacts.iter().map(|a| a.contents.len()).sum();
    println!("{secs} {} {} {bytes}", peak_rss_mb(), artifacts.len());
    eprintln!(
        "  {n} spokes: load+validate {loaded:.3} s, plan {:.3} s, render {:.3} s",
        planned - loaded,
        secs - planned
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--child")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
    {
        return run_one(n);
    }
    let exe = std::env::current_exe().unwrap();
    println!(
        "validate + plan + render, 2 planes, one hub; target at 10k: < {TARGET_SECS} s, < {TARGET_MB} MB"
    );
    println!(
        "{:>7} {:>9} {:>9} {:>10} {:>12} {:>14}",
        "spokes", "secs", "peak MB", "artifacts", "vs target", "growth/nlogn"
    );
    let mut prev: Option<(usize, f64)> = None;
    for n in SIZES {
        let out = Command::new(&exe)
            .args(["--child", &n.to_string()])
            .output()
            .expect("child runs");
        let line = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        assert!(
            v.len() == 4,
            "child failed: {line} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stages = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
        let (secs, mb) = (v[0], v[1]);
        let vs_target = format!("{:.2}x/{:.2}x", secs / TARGET_SECS, mb / TARGET_MB);
        let growth = prev.map_or("-".to_string(), |(pn, ps)| {
            let nlogn = |x: usize| x as f64 * (x as f64).ln();
            format!("{:.2}", (secs / ps) / (nlogn(n) / nlogn(pn)))
        });
        println!(
            "{n:>7} {secs:>9.3} {mb:>9.1} {:>10} {vs_target:>12} {growth:>14}",
            v[2]
        );
        println!("{stages}");
        prev = Some((n, secs));
    }
    println!(
        "(vs target = time/0.5 s and RSS/200 MB, below 1.00x meets it; growth/nlogn <= 1 means no worse than n log n)"
    );
}
