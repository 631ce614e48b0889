//! Run ingestion through writer threads that coalesce concurrent requests.
//!
//! Each `POST /api/v1/runs` hands its runs to these threads and awaits the answer. A thread takes
//! every request that queued while it was busy and logs them as one batch, so 64 clients posting a
//! run each cost one write and one fsync instead of 64 thread handoffs and a crowd of waiters woken
//! by every fsync. There are [`WRITERS`] threads so that the store's group commit overlaps: while one
//! waits for its batch's fsync, the other takes what queued meanwhile, resolves and writes it, and its
//! fsync follows at once. With one thread, the requests arriving during an fsync waited for it, then
//! for their own batch's resolution, then for a second fsync, and the thread's CPU work and the disk
//! took turns. Requests stay independent: if the combined batch is refused (one bad run), each
//! request is logged on its own, so a bad request never fails a good one, and each still gets its
//! own answer and its own field-precise error.

use mltrace_store::model::Logged;
use mltrace_store::{NewRun, Store, StoreError};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most runs a writer combines into one batch.
const MAX_COMBINED: usize = 10_000;

/// Writer threads: two, one resolving while the other waits for its fsync (the store serializes
/// the writes themselves; more threads would only wait on its lock).
pub const WRITERS: usize = 2;

struct Job {
    runs: Vec<NewRun>,
    /// One run object (errors name fields without the `runs[0].` prefix).
    single: bool,
    reply: oneshot::Sender<Result<Vec<Logged>, StoreError>>,
}

/// The queue to the writer threads, or (inline) the store itself.
#[derive(Clone)]
pub struct Ingest {
    jobs: Option<mpsc::Sender<Job>>,
    store: Arc<Store>,
}

impl Ingest {
    /// Starts the writer threads; they end when the last handle is dropped.
    pub fn start(store: Arc<Store>) -> Ingest {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            let (store, queue) = (store.clone(), queue.clone());
            std::thread::Builder::new()
                .name("mltrace-ingest".into())
                .spawn(move || writer(&store, &queue))
                .unwrap_or_else(|e| panic!("cannot start the ingest thread: {e}"));
        }
        Ingest { jobs: Some(jobs), store }
    }

    /// Logs on the requesting thread, without the writer threads: for a store embedded in a
    /// process (the Python package), whose requests come one at a time from the caller's own
    /// thread, two thread handoffs per run cost more than coalescing can save.
    pub fn inline(store: Arc<Store>) -> Ingest {
        Ingest { jobs: None, store }
    }

    /// Logs the runs of one request (all or nothing) and answers when they are durable.
    pub async fn log(&self, runs: Vec<NewRun>, single: bool) -> Result<Vec<Logged>, StoreError> {
        let Some(jobs) = &self.jobs else {
            return log_one(&self.store, runs, single);
        };
        let (reply, answer) = oneshot::channel();
        jobs.send(Job { runs, single, reply })
            .map_err(|_| StoreError::Unavailable("the server is shutting down".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the ingest thread stopped".into()))?
    }
}

fn log_one(store: &Store, runs: Vec<NewRun>, single: bool) -> Result<Vec<Logged>, StoreError> {
    match (single, runs.len()) {
        (true, 1) => runs.into_iter().next().map(|r| store.log_run_owned(r).map(|l| vec![l])).unwrap_or(Ok(Vec::new())),
        _ => store.log_runs_owned(runs),
    }
}

/// What queued since the last take, up to [`MAX_COMBINED`] runs (waiting for the first request);
/// `None` once every handle is gone. The other writer waits for the lock meanwhile, so it takes
/// what comes next.
fn take(queue: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
    let first = queue.recv().ok()?;
    let mut runs = first.runs.len();
    let mut jobs = vec![first];
    while runs < MAX_COMBINED {
        match queue.try_recv() {
            Ok(job) => {
                runs += job.runs.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    Some(jobs)
}

fn writer(store: &Store, queue: &Mutex<mpsc::Receiver<Job>>) {
    while let Some(mut jobs) = take(queue) {
        if jobs.len() == 1 {
            let Job { runs, single, reply } = jobs.remove(0);
            let _ = reply.send(log_one(store, runs, single));
            continue;
        }
        // Kept for the retry one by one, should the combined batch be refused.
        let combined: Vec<NewRun> = jobs.iter().flat_map(|j| j.runs.iter().cloned()).collect();
        match store.log_runs_owned(combined) {
            Ok(mut logged) => {
                for job in jobs {
                    let rest = logged.split_off(job.runs.len().min(logged.len()));
                    let _ = job.reply.send(Ok(std::mem::replace(&mut logged, rest)));
                }
            }
            Err(StoreError::Unavailable(why)) => {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Unavailable(why.clone())));
                }
            }
            // Some request in the group is bad: log each on its own, so only it is refused.
            Err(_) => {
                for Job { runs, single, reply } in jobs {
                    let _ = reply.send(log_one(store, runs, single));
                }
            }
        }
    }
}
