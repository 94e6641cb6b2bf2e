//! One fence at a time, and the newest one asked for while another runs is not lost.
//!
//! A fence runs in the background (a dead hub's REST takes seconds to time out). A fence
//! asked for meanwhile waits here — only the one of the newest epoch, since an older epoch's
//! fence writes nothing once a later one is decided — and runs as soon as the current one
//! ends, instead of waiting for the next keep-fenced round (30 s).

use std::sync::Mutex;

/// A fence's epoch and whether it is a keep-fenced repeat (`again`, logged more quietly).
pub trait FenceJob {
    fn epoch(&self) -> u64;
    fn again(&self) -> bool;
    /// Marks a repeat as a first fence (a waiting first fence was replaced by a repeat of
    /// the same epoch: its outcome is still news).
    fn first(&mut self);
}

/// Whether a fence is running, and the one to run next.
pub struct FenceQueue<J> {
    state: Mutex<State<J>>,
}

struct State<J> {
    running: bool,
    waiting: Option<J>,
}

impl<J: FenceJob> Default for FenceQueue<J> {
    fn default() -> Self {
        FenceQueue {
            state: Mutex::new(State {
                running: false,
                waiting: None,
            }),
        }
    }
}

impl<J: FenceJob> FenceQueue<J> {
    /// `Some(job)`: nothing is running, run it now (the queue counts it as running).
    /// `None`: it waits, unless a fence of a newer epoch already waits.
    pub fn offer(&self, mut job: J) -> Option<J> {
        let mut s = self.state.lock().expect("not poisoned");
        if !s.running {
            s.running = true;
            return Some(job);
        }
        match &s.waiting {
            Some(w) if w.epoch() > job.epoch() => {}
            Some(w) => {
                if w.epoch() == job.epoch() && !w.again() {
                    job.first();
                }
                s.waiting = Some(job);
            }
            None => s.waiting = Some(job),
        }
        None
    }

    /// The running fence ended: the one to run next, or `None` (then nothing runs).
    pub fn finished(&self) -> Option<J> {
        let mut s = self.state.lock().expect("not poisoned");
        let next = s.waiting.take();
        s.running = next.is_some();
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Job(u64, bool);

    impl FenceJob for Job {
        fn epoch(&self) -> u64 {
            self.0
        }
        fn again(&self) -> bool {
            self.1
        }
        fn first(&mut self) {
            self.1 = false;
        }
    }

    #[test]
    fn a_fence_asked_for_while_one_runs_runs_when_it_ends() {
        let q = FenceQueue::default();
        assert_eq!(q.offer(Job(1, false)), Some(Job(1, false)));
        assert_eq!(q.offer(Job(3, false)), None, "one at a time");
        assert_eq!(q.finished(), Some(Job(3, false)), "not lost");
        assert_eq!(q.finished(), None);
        assert_eq!(q.offer(Job(4, true)), Some(Job(4, true)), "idle again");
    }

    #[test]
    fn only_the_newest_epoch_waits() {
        let q = FenceQueue::default();
        q.offer(Job(1, false));
        q.offer(Job(5, false));
        assert_eq!(q.offer(Job(2, true)), None);
        assert_eq!(
            q.finished(),
            Some(Job(5, false)),
            "an older epoch does not replace it"
        );
        q.offer(Job(6, false));
        q.offer(Job(6, true));
        assert_eq!(
            q.finished(),
            Some(Job(6, false)),
            "a repeat of the same epoch keeps the first fence's logging"
        );
        q.offer(Job(6, true));
        q.offer(Job(7, true));
        assert_eq!(q.finished(), Some(Job(7, true)));
        assert_eq!(q.finished(), None);
    }
}
