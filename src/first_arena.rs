//! Sizes mimalloc's first arena before anything is allocated.
//!
//! mimalloc reserves its first arena (1 GiB by default) at the first allocation, which std
//! makes before `main`; the arena's bookkeeping for 1 GiB fills most of its first 2 MiB, so the
//! first pages land in a second transparent huge page, zeroed whole on first touch. With a
//! 64 MiB first arena both fit in one: one zeroed huge page less for every command (≈ 0.2 ms
//! of `fabric check`'s ≈ 5 ms on the 1,001-node bench topology, and ≈ 2 MB of RSS). Later
//! arenas are reserved as they are needed, as before. `MIMALLOC_ARENA_RESERVE` set in the
//! environment still wins.

use std::ffi::{c_int, c_long};

/// `mi_option_arena_reserve` in mimalloc v3's `mi_option_t` (its enum order); pinned by the
/// test below, which finds the value set through this number under the option's name.
const MI_OPTION_ARENA_RESERVE: c_int = 23;

/// The first arena's size, in KiB (the unit of the option).
const FIRST_ARENA_KIB: c_long = 64 * 1024;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_options_print_out(
        out: extern "C" fn(*const std::ffi::c_char, *mut std::ffi::c_void),
        arg: *mut std::ffi::c_void,
    );
}

/// Runs from `.init_array`, before std's runtime setup allocates.
extern "C" fn size_first_arena() {
    // No Rust allocation here: that would reserve the arena this is about to size.
    // SAFETY: getenv reads the environment, which nothing changes this early; mi_option_set
    // stores an integer in mimalloc's option table and allocates nothing.
    unsafe {
        if libc::getenv(c"MIMALLOC_ARENA_RESERVE".as_ptr()).is_null() {
            mi_option_set(MI_OPTION_ARENA_RESERVE, FIRST_ARENA_KIB);
        }
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static SIZE_FIRST_ARENA: extern "C" fn() = size_first_arena;

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn collect(msg: *const std::ffi::c_char, arg: *mut std::ffi::c_void) {
        // SAFETY: mimalloc passes a NUL-terminated message and the `arg` given below.
        let (msg, out) = unsafe { (std::ffi::CStr::from_ptr(msg), &mut *(arg as *mut String)) };
        out.push_str(&msg.to_string_lossy());
    }

    #[test]
    fn the_option_set_before_main_is_mimallocs_arena_reserve() {
        if std::env::var_os("MIMALLOC_ARENA_RESERVE").is_some() {
            panic!("unset MIMALLOC_ARENA_RESERVE to run this test");
        }
        // The test binary runs the constructor too. mimalloc's own listing names the option.
        let mut listing = String::new();
        // SAFETY: `collect` appends to `listing`, which outlives the call.
        unsafe { mi_options_print_out(collect, &mut listing as *mut String as *mut _) };
        let line = listing
            .lines()
            .find(|l| l.starts_with("option 'arena_reserve':"))
            .unwrap_or_else(|| panic!("no arena_reserve in mimalloc's options:\n{listing}"));
        assert_eq!(
            line.trim_end(),
            format!("option 'arena_reserve': {FIRST_ARENA_KIB} KiB")
        );
    }
}
