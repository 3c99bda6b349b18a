//! Cooperative cancellation: a token that long computations poll at natural boundaries (per
//! block of sampled pairs, per branch-and-bound batch, per sector, per solver iteration, per
//! trial), so a caller — the Python package on Ctrl-C, a GUI, a time limit — can stop a
//! computation within a fraction of a second instead of waiting for its end.
//!
//! The studies keep their signatures: a token is *watched* by a thread rather than passed as
//! an argument. [`Cancel::run`] watches a token on the calling thread for the duration of a
//! closure; [`Cancel::watch_on_this_thread`] does it for good (a rayon pool's `start_handler`
//! calls it, so that every worker of the pool sees the token). [`poll`] — the check inside
//! the loops — costs one thread-local read and one relaxed atomic load; when the watched token
//! is cancelled it unwinds with a private payload (`std::panic::resume_unwind`, which runs no
//! panic hook and prints nothing), rayon carries the unwind to the caller of the parallel
//! loop, and [`Cancel::run`] turns it into [`Error::Cancelled`]. Nothing partial is returned:
//! the computation's result is never built. This is the scheme of salsa's `Cancelled::throw`
//! and `Cancelled::catch` (the incremental engine behind rust-analyzer).
//!
//! Threads that watch no token (the command line, a caller that never cancels) poll for free:
//! [`poll`] finds no token and returns.
//!
//! ```
//! use dpr_audit::cancel::{Cancel, poll};
//! use dpr_audit::Error;
//!
//! let token = Cancel::new();
//! // Not cancelled: the work runs to its end.
//! assert_eq!(token.run(|| Ok(21 * 2)).unwrap(), 42);
//! // Cancelled (here from inside; usually from another thread): the next poll stops it.
//! let stopped = token.run(|| {
//!     token.cancel();
//!     poll();
//!     Ok("never returned")
//! });
//! assert!(matches!(stopped, Err(Error::Cancelled)));
//! ```

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// A cancellation token: cheap to clone (all clones share one flag), cancelled once and for
/// good.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

/// The unwind payload of a cancelled poll (private: only [`Cancel::run`] and
/// [`is_cancellation`] recognise it).
struct Cancelled;

thread_local! {
    /// The token this thread watches, if any.
    static WATCHED: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

impl Cancel {
    /// A fresh token, not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every computation watching this token (from any thread).
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Makes the current thread watch this token from now on (for the `start_handler` of a
    /// rayon pool whose work should stop with the token).
    pub fn watch_on_this_thread(&self) {
        WATCHED.with(|w| *w.borrow_mut() = Some(self.clone()));
    }

    /// Runs `work` with this token watched on the calling thread (and on any pool thread
    /// that watches it): [`Error::Cancelled`] when a poll found it cancelled, else `work`'s
    /// result. Other panics pass through unchanged. The thread's previous token is restored.
    pub fn run<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let previous = WATCHED.with(|w| w.borrow_mut().replace(self.clone()));
        let outcome = catch_unwind(AssertUnwindSafe(work));
        WATCHED.with(|w| *w.borrow_mut() = previous);
        match outcome {
            Ok(result) => result,
            Err(payload) if is_cancellation(payload.as_ref()) => Err(Error::Cancelled),
            Err(payload) => resume_unwind(payload),
        }
    }
}

/// Whether a caught unwind is a cancelled [`poll`] (and not a panic).
pub fn is_cancellation(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<Cancelled>()
}

/// Stops the computation (by unwinding to [`Cancel::run`]) when the token this thread watches
/// is cancelled; returns at once otherwise. Called at natural boundaries of long loops.
#[inline]
pub fn poll() {
    let cancelled = WATCHED.with(|w| w.borrow().as_ref().is_some_and(Cancel::is_cancelled));
    if cancelled {
        resume_unwind(Box::new(Cancelled));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_without_a_token_never_stops() {
        poll();
        assert_eq!(Cancel::new().run(|| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn a_cancelled_token_stops_the_work_at_the_next_poll() {
        let token = Cancel::new();
        let mut reached = 0;
        let out: Result<()> = token.run(|| {
            for i in 0..10 {
                if i == 3 {
                    token.cancel();
                }
                poll();
                reached = i;
            }
            Ok(())
        });
        assert!(matches!(out, Err(Error::Cancelled)));
        assert_eq!(reached, 2, "the loop must stop at the first poll after cancel()");
        // The token is no longer watched after run().
        poll();
    }

    #[test]
    fn pool_workers_that_watch_the_token_stop_and_the_caller_sees_cancelled() {
        use rayon::prelude::*;
        let token = Cancel::new();
        let watcher = token.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .start_handler(move |_| watcher.watch_on_this_thread())
            .build()
            .unwrap();
        token.cancel();
        let out: Result<u64> = pool.install(|| {
            token.run(|| {
                Ok((0..1000u64)
                    .into_par_iter()
                    .map(|i| {
                        poll();
                        i
                    })
                    .sum())
            })
        });
        assert!(matches!(out, Err(Error::Cancelled)));
    }

    #[test]
    fn a_real_panic_is_not_taken_for_a_cancellation() {
        let caught = catch_unwind(|| Cancel::new().run(|| -> Result<()> { panic!("a defect") }));
        let payload = caught.expect_err("the panic passes through");
        assert!(!is_cancellation(payload.as_ref()));
    }
}
