//! The queue between the runtime and the search threads, in which the thread that went idle
//! last takes the next search.
//!
//! Searches mostly come one after another. The thread that has just run one has its
//! connection's pages and the processor's caches warm; a channel wakes the thread that has
//! waited longest instead, so consecutive searches alternated between threads, and each
//! search's statements ran about 15% slower than on one thread.
//!
//! This steers, it does not promise: a thread hands back its answer before it lists itself
//! idle again, so a search sent at once after may go to another idle thread. Nothing may rely
//! on which thread runs a search (its kept plans, say) beyond that preference.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;

/// The runtime's end: hands jobs to the threads. The threads' [`Worker`]s see the queue
/// closed once every handle is dropped.
pub(super) struct JobQueue<J> {
    shared: Arc<Shared<J>>,
    _closer: Arc<Closer<J>>,
}

/// A search thread's end: takes the next job.
pub(super) struct Worker<J> {
    shared: Arc<Shared<J>>,
}

/// A job was not queued: as many as the queue holds already wait.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Full;

struct Shared<J> {
    state: Mutex<State<J>>,
    capacity: usize,
}

struct State<J> {
    jobs: VecDeque<J>,
    /// The idle threads, the one that went idle last at the end.
    idle: Vec<Thread>,
    closed: bool,
}

/// Closes the queue when the last handle is dropped.
struct Closer<J>(Arc<Shared<J>>);

impl<J> Shared<J> {
    fn state(&self) -> MutexGuard<'_, State<J>> {
        // Jobs run outside the lock, so a panic cannot leave the state half changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<J> Drop for Closer<J> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.closed = true;
        state.idle.drain(..).for_each(|thread| thread.unpark());
    }
}

impl<J> Clone for JobQueue<J> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            _closer: Arc::clone(&self._closer),
        }
    }
}

impl<J> std::fmt::Debug for JobQueue<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl<J> JobQueue<J> {
    /// A queue that holds at most `capacity` waiting jobs.
    pub fn new(capacity: usize) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                idle: Vec::new(),
                closed: false,
            }),
            capacity,
        });
        Self {
            _closer: Arc::new(Closer(Arc::clone(&shared))),
            shared,
        }
    }

    /// The end for one more thread.
    pub fn worker(&self) -> Worker<J> {
        Worker {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Queues `job` and wakes the thread that went idle last, if any is idle.
    pub fn push(&self, job: J) -> Result<(), Full> {
        let mut state = self.shared.state();
        if state.jobs.len() >= self.shared.capacity {
            return Err(Full);
        }
        state.jobs.push_back(job);
        if let Some(thread) = state.idle.pop() {
            thread.unpark();
        }
        Ok(())
    }
}

impl<J> Worker<J> {
    /// The next job, waiting for one; `None` once the queue is closed and empty.
    pub fn next(&self) -> Option<J> {
        let me = std::thread::current();
        let mut state = self.shared.state();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state.idle.push(me.clone());
            drop(state);
            // An unpark that came before this returns it at once; a wake-up that came without
            // one leaves this thread still listed, so it takes itself off before looking again.
            std::thread::park();
            state = self.shared.state();
            state.idle.retain(|thread| thread.id() != me.id());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn the_thread_idle_last_takes_the_next_job() {
        let queue = JobQueue::<u32>::new(8);
        let (done, finished) = mpsc::channel();
        let threads: Vec<_> = (0..3)
            .map(|index| {
                let worker = queue.worker();
                let done = done.clone();
                std::thread::spawn(move || {
                    while let Some(job) = worker.next() {
                        done.send((index, job)).unwrap();
                    }
                })
            })
            .collect();
        let all_idle = || {
            while queue.shared.state().idle.len() < 3 {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        // Jobs one at a time, each once every thread is idle: one thread answers them all.
        let mut answered_by = Vec::new();
        for job in 0..20 {
            all_idle();
            queue.push(job).unwrap();
            let (index, answered) = finished.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(answered, job);
            answered_by.push(index);
        }
        assert!(
            answered_by.iter().all(|&index| index == answered_by[0]),
            "{answered_by:?}"
        );
        drop(queue);
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[test]
    fn every_job_is_run_once_and_the_queue_refuses_past_its_capacity() {
        let queue = JobQueue::<u32>::new(4);
        for job in 0..4 {
            queue.push(job).unwrap();
        }
        assert_eq!(queue.push(4), Err(Full));
        let (done, finished) = mpsc::channel();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let worker = queue.worker();
                let done = done.clone();
                std::thread::spawn(move || {
                    while let Some(job) = worker.next() {
                        done.send(job).unwrap();
                    }
                })
            })
            .collect();
        for job in 4..100 {
            while queue.push(job) == Err(Full) {
                std::thread::yield_now();
            }
        }
        let mut seen: Vec<u32> = (0..100)
            .map(|_| finished.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        // Dropping the last handle ends the threads.
        drop(queue);
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
