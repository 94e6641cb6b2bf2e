//! The process's memory setup, before anything is allocated: no transparent huge pages, and
//! a 64 MiB first mimalloc arena.
//!
//! **No transparent huge pages**, for every command (`PR_SET_THP_DISABLE`, inherited by the
//! processes fabric starts). mimalloc asks for huge pages on its arenas; a huge page is
//! zeroed whole on first touch (≈ 0.2 ms each here) and, when free huge pages are scarce,
//! the kernel compacts memory on the spot (one `apply` spent 37 ms in the kernel so). A
//! 1,000-peer `fabric apply` faulted 9–16 of them; without, two A/Bs of 40 replace runs
//! each, interleaved: median 124 → 99 ms (p90 163 → 131) and 124 → 108 ms (p90 156 → 139),
//! `wg syncconf` 107 and 112 ms in the same runs;
//! `fabric check` of the 1,001-node topology alone is ≈ 0.25 ms slower (5.41 → 5.66 ms,
//! more 4 KiB faults), a price the lower tail pays for. Set here rather than in `main`:
//! std allocates before `main`, and the first arena would already be touched.
//!
//! **A 64 MiB first arena.** mimalloc reserves its first arena (1 GiB by default) at the
//! first allocation; its bookkeeping for 1 GiB touches more pages (without huge pages:
//! check 5.76 → 5.66 ms with 64 MiB). Later arenas are reserved as they are needed, as
//! before. `MIMALLOC_ARENA_RESERVE` set in the environment still wins.
//!
//! **No allocator teardown at exit** (mimalloc's `destroy_on_exit` = 2 skips its exit
//! handler): otherwise mimalloc walks and purges every page it holds just before the kernel
//! frees them all anyway (≈ 4 % of an `apply`'s CPU in perf; `fabric plan` of 1,000 peers
//! 21.28 → 21.11 ms median, 200 runs interleaved).

use std::ffi::{c_int, c_long};

/// `mi_option_arena_reserve` in mimalloc v3's `mi_option_t` (its enum order); pinned by the
/// test below, which finds the value set through this number under the option's name.
const MI_OPTION_ARENA_RESERVE: c_int = 23;

/// The first arena's size, in KiB (the unit of the option).
const FIRST_ARENA_KIB: c_long = 64 * 1024;

/// `mi_option_destroy_on_exit` (just before `arena_reserve`), pinned the same way; a value
/// above 1 makes mimalloc's exit handler return at once.
const MI_OPTION_DESTROY_ON_EXIT: c_int = 22;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_options_print_out(
        out: extern "C" fn(*const std::ffi::c_char, *mut std::ffi::c_void),
        arg: *mut std::ffi::c_void,
    );
}

/// Runs from `.init_array`, before std's runtime setup allocates.
extern "C" fn set_up_memory() {
    // No Rust allocation here: that would reserve the arena this is about to size.
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory
    // (best effort: an old kernel without it keeps huge pages); getenv reads the
    // environment, which nothing changes this early; mi_option_set stores an integer in
    // mimalloc's option table and allocates nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        mi_option_set(MI_OPTION_DESTROY_ON_EXIT, 2);
        if libc::getenv(c"MIMALLOC_ARENA_RESERVE".as_ptr()).is_null() {
            mi_option_set(MI_OPTION_ARENA_RESERVE, FIRST_ARENA_KIB);
        }
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static SET_UP_MEMORY: extern "C" fn() = set_up_memory;

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn collect(msg: *const std::ffi::c_char, arg: *mut std::ffi::c_void) {
        // SAFETY: mimalloc passes a NUL-terminated message and the `arg` given below.
        let (msg, out) = unsafe { (std::ffi::CStr::from_ptr(msg), &mut *(arg as *mut String)) };
        out.push_str(&msg.to_string_lossy());
    }

    #[test]
    fn transparent_huge_pages_are_off_before_main() {
        // SAFETY: PR_GET_THP_DISABLE takes no pointers and returns the flag.
        let off = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(off, 1, "the constructor runs in the test binary too");
    }

    #[test]
    fn the_options_set_before_main_are_mimallocs_arena_reserve_and_destroy_on_exit() {
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
        let line = listing
            .lines()
            .find(|l| l.starts_with("option 'destroy_on_exit':"))
            .unwrap_or_else(|| panic!("no destroy_on_exit in mimalloc's options:\n{listing}"));
        assert_eq!(line.trim_end(), "option 'destroy_on_exit': 2");
    }
}
