//! How much heavy work the server takes on at once: a fixed number of jobs run, a fixed number
//! wait, and a request beyond both is turned away (`503` with `Retry-After`) instead of queueing
//! without bound.
//!
//! A heavy job (classifying an upload, drawing a confusion matrix) holds its working memory until
//! it ends, so the number running bounds the server's memory; the number waiting bounds what the
//! queued requests hold (their uploads, at most [`super::MAX_UPLOAD`] each).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use kindling::app::serve::gate::Gate;
//! let gate = Gate::new(1, 1);
//! let first = gate.admit().expect("room");
//! let second = gate.admit().expect("room to wait");
//! assert!(gate.admit().is_none(), "one running, one waiting: the third is turned away");
//! let running = first.start().await;
//! drop((running, second));
//! assert!(gate.admit().is_some());
//! # }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `at_once` jobs running and `queue` more waiting.
#[derive(Debug)]
pub struct Gate {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    at_once: usize,
    queue: usize,
}

/// A place among the admitted jobs (running or waiting); given back when dropped.
#[derive(Debug)]
pub struct Admission {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
}

/// A running job's right to run; given back when dropped.
#[derive(Debug)]
pub struct Running {
    _permit: OwnedSemaphorePermit,
    _admission: Admission,
}

impl Gate {
    /// A gate letting `at_once` jobs run (at least 1) and `queue` more wait.
    pub fn new(at_once: usize, queue: usize) -> Gate {
        let at_once = at_once.max(1);
        Gate { running: Arc::new(Semaphore::new(at_once)), admitted: Arc::new(AtomicUsize::new(0)), at_once, queue }
    }

    /// Jobs that run at once.
    pub fn at_once(&self) -> usize {
        self.at_once
    }

    /// Jobs that may wait for them.
    pub fn queue(&self) -> usize {
        self.queue
    }

    /// A place for one more job, or `None` when `at_once + queue` jobs are already admitted.
    pub fn admit(&self) -> Option<Admission> {
        let limit = self.at_once + self.queue;
        self.admitted.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).ok()?;
        Some(Admission { running: self.running.clone(), admitted: self.admitted.clone() })
    }
}

impl Admission {
    /// Waits for a free running slot.
    pub async fn start(self) -> Running {
        let permit = self.running.clone().acquire_owned().await.expect("the gate's semaphore is never closed");
        Running { _permit: permit, _admission: self }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_most_at_once_run_and_queue_wait() {
        let gate = Gate::new(2, 1);
        let (a, b, c) = (gate.admit().unwrap(), gate.admit().unwrap(), gate.admit().unwrap());
        assert!(gate.admit().is_none(), "two running and one waiting fill it");
        let (ra, rb) = (a.start().await, b.start().await);
        // The third waits while two run...
        let waiting = tokio::spawn(c.start());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // ...and runs once one ends; its place counts until it ends too.
        drop(ra);
        let rc = waiting.await.unwrap();
        assert!(gate.admit().is_some(), "a place freed");
        drop((rb, rc));
        let all: Vec<_> = (0..3).map(|_| gate.admit()).collect();
        assert!(all.iter().all(Option::is_some));
    }
}
