//! Maintenance the store owns, whoever opened it (the server, the command line, a Python process
//! with the embedded engine): a checkpoint whenever enough events came after the last one, so that
//! an open replays at most that many. A [`Maintenance`] runs it on a thread of its own until it is
//! dropped; [`Store::checkpoint_if_behind`] is the same step for a caller that closes the store.

use crate::store::Store;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the thread looks: a checkpoint is never more than this late.
const PERIOD: Duration = Duration::from_secs(5);

/// A running maintenance thread; dropping it stops the thread and waits for it.
pub struct Maintenance {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Store {
    /// Checkpoints `store` whenever `every` events (0: never) came after the newest checkpoint.
    pub fn maintain(store: &Arc<Store>, every: u64) -> Maintenance {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        if every == 0 {
            return Maintenance { stop, thread: None };
        }
        let (store, signal) = (Arc::clone(store), Arc::clone(&stop));
        let thread = std::thread::Builder::new().name("mltrace-maintenance".into()).spawn(move || {
            let (lock, cv) = &*signal;
            let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !*stopped {
                stopped = cv.wait_timeout(stopped, PERIOD).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
                if *stopped {
                    break;
                }
                drop(stopped);
                match store.checkpoint_if_behind(every) {
                    Ok(Some(seq)) => tracing::info!("checkpoint at seq {seq}"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("checkpoint failed: {e}"),
                }
                stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
            }
        });
        Maintenance { stop, thread: thread.ok() }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{LogOptions, NewRun, Store, Timestamp};

    #[test]
    fn a_store_that_fell_behind_checkpoints_and_then_is_not_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open");
        let t = Timestamp(1_700_000_000_000);
        for i in 0..20 {
            store.log_run(&NewRun::new("c", t, t).outputs([format!("o{i}").as_str()])).expect("log");
        }
        assert_eq!(store.events_since_checkpoint(), 20);
        assert_eq!(store.checkpoint_if_behind(50).expect("not behind enough"), None);
        assert!(store.checkpoint_if_behind(10).expect("checkpoint").is_some());
        assert_eq!(store.events_since_checkpoint(), 0);
        drop(store);
        // The next open loads the checkpoint, and knows it is not behind.
        let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("reopen");
        assert_eq!(store.events_since_checkpoint(), 0);
    }
}
