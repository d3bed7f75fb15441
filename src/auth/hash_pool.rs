//! A dedicated pool for bcrypt: as many threads as cores, at the lowest OS
//! priority so that page views win the CPU during a login storm, and a
//! bounded queue, so that a storm past its depth gets 503 instead of piling
//! up work nobody waits for any more.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use crate::auth::password::PasswordHasher;
use crate::auth::{Error, Presence};

type Job = Box<dyn FnOnce() + Send>;

pub struct HashPool {
    queue: SyncSender<Job>,
    hasher: Arc<PasswordHasher>,
    /// Jobs queued and not yet taken by a thread.
    waiting: Arc<AtomicUsize>,
}

impl HashPool {
    /// Starts `threads` workers for `hasher`; at most `depth` jobs wait for
    /// one.
    pub fn new(hasher: PasswordHasher, threads: usize, depth: usize) -> Self {
        let (queue, jobs) = mpsc::sync_channel::<Job>(depth);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            let spawned = thread::Builder::new()
                .name(format!("gatehouse-hash-{n}"))
                .spawn(move || work(&jobs));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a hashing thread");
            }
        }
        Self {
            queue,
            hasher: Arc::new(hasher),
            waiting: Arc::default(),
        }
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// How many jobs wait for a thread now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `job` with the hasher on the pool, inside the caller's tracing
    /// span, and waits for its answer without blocking the caller's thread.
    /// A full queue is `Error::Overloaded`. A job whose client has gone by
    /// its turn is dropped unrun.
    pub async fn run<T, F>(&self, presence: &Presence, job: F) -> Result<T, Error>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let hasher = Arc::clone(&self.hasher);
        let span = tracing::Span::current();
        let presence = presence.clone();
        let (waiting, queued) = (Arc::clone(&self.waiting), Instant::now());
        let job: Job = Box::new(move || {
            waiting.fetch_sub(1, Ordering::Relaxed);
            metrics::histogram!("gatehouse_hash_wait_seconds").record(queued.elapsed());
            // A caller that has gone (its client disconnected) waits for
            // nothing: its job is dropped, not run.
            if answer.is_closed() || presence.is_gone() {
                let _entered = span.enter();
                tracing::debug!("dropped the hash job of a client that has gone");
                return;
            }
            let _entered = span.enter();
            let _ = answer.send(job(&hasher));
        });
        // Counted before it is sent: a thread may take it at once.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let sent = self.queue.try_send(job);
        if sent.is_err() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::internal(anyhow::anyhow!("the hashing pool is gone")));
            }
        }
        answered
            .await
            .map_err(|_| Error::internal(anyhow::anyhow!("a hashing job was lost")))
    }
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    if let Err(error) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::debug!(?error, "cannot lower the priority of a hashing thread");
    }
    loop {
        // The lock is held only while waiting for the next job.
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn jobs_run_and_answer() {
        let pool = HashPool::new(PasswordHasher::new(4), 2, 4);
        assert_eq!(
            pool.run(&Presence::default(), |_| 6 * 7).await.ok(),
            Some(42)
        );
    }

    #[tokio::test]
    async fn a_job_whose_caller_has_gone_is_dropped_unrun() {
        let pool = Arc::new(HashPool::new(PasswordHasher::new(4), 1, 4));
        let gate = Arc::new(Barrier::new(2));
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy = tokio::spawn({
            let (pool, gate) = (Arc::clone(&pool), Arc::clone(&gate));
            async move {
                pool.run(&Presence::default(), move |_| gate.wait().is_leader())
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Queued behind the busy job, then abandoned.
        let abandoned = tokio::spawn({
            let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
            async move {
                pool.run(&Presence::default(), move |_| {
                    ran.store(true, std::sync::atomic::Ordering::SeqCst)
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        abandoned.abort();
        let _ = abandoned.await;
        gate.wait();
        assert!(busy.await.is_ok());
        // A later job runs once the abandoned one has been passed over.
        assert_eq!(pool.run(&Presence::default(), |_| 3).await.ok(), Some(3));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_job_for_a_client_that_has_gone_is_dropped_unrun() {
        let pool = HashPool::new(PasswordHasher::new(4), 1, 4);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gone = Presence::new(|| false);
        let answer = pool
            .run(&gone, {
                let ran = Arc::clone(&ran);
                move |_| ran.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .await;
        assert!(answer.is_err(), "nobody is left to answer");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_not_piled_up() {
        let pool = Arc::new(HashPool::new(PasswordHasher::new(4), 1, 1));
        let gate = Arc::new(Barrier::new(2));
        // One job holds the only thread until the gate opens, one waits in
        // the queue; the third finds the queue full.
        let busy = tokio::spawn({
            let (pool, gate) = (Arc::clone(&pool), Arc::clone(&gate));
            async move {
                pool.run(&Presence::default(), move |_| gate.wait().is_leader())
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.run(&Presence::default(), |_| 1).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.waiting(), 1);
        assert!(matches!(
            pool.run(&Presence::default(), |_| 2).await,
            Err(Error::Overloaded)
        ));
        assert_eq!(pool.waiting(), 1, "a refused job is not counted");
        gate.wait();
        assert!(busy.await.is_ok());
        assert_eq!(queued.await.ok().and_then(Result::ok), Some(1));
        assert_eq!(pool.waiting(), 0);
    }
}
