//! The log backend seam: stores that mirror one shared log (here another local store, the same
//! protocol as a JetStream stream) keep one history, whoever writes, and resolve again after losing
//! a race.

mod common;

use common::{at, open};
use mltrace_store::upstream::LogBackend;
use mltrace_store::{Event, NewRun, Seq, Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn run(component: &str, inputs: &[&str], outputs: &[&str]) -> NewRun {
    NewRun::new(component, at(0, 1), at(0, 2)).inputs(inputs.iter().copied()).outputs(outputs.iter().copied())
}

fn export(store: &Store) -> Vec<String> {
    store.events_after(0, usize::MAX).expect("events").iter().map(|e| format!("{e:?}")).collect()
}

/// Lets another writer append first, once: the next append of the mirror finds the log moved on.
struct Racing {
    shared: Arc<Store>,
    raced: AtomicBool,
}

impl LogBackend for Racing {
    fn append(&self, after: Seq, events: &[Event]) -> mltrace_store::Result<Seq> {
        if !self.raced.swap(true, Ordering::AcqRel) {
            self.shared.log_run(&run("other", &[], &["raw.csv"]))?;
        }
        self.shared.append(after, events)
    }
    fn read(&self, after: Seq, limit: usize, wait: Duration) -> mltrace_store::Result<Vec<Event>> {
        self.shared.read(after, limit, wait)
    }
    fn last_seq(&self) -> mltrace_store::Result<Seq> {
        LogBackend::last_seq(&*self.shared)
    }
}

#[test]
fn a_write_that_loses_the_race_is_resolved_again_against_the_winner() {
    let (u, a) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let shared = Arc::new(open(u.path()));
    let mirror = open(a.path());
    mirror.set_upstream(Arc::new(Racing { shared: shared.clone(), raced: AtomicBool::new(false) })).expect("set");
    let logged = mirror.log_run(&run("train", &["raw.csv"], &["model.bin"])).expect("logged after the retry");
    // The other writer's run came first, so ours is run 2 and depends on it.
    assert_eq!((logged.id, logged.seq), (2, 2));
    assert_eq!(logged.dependencies, vec![1]);
    assert_eq!(export(&mirror), export(&shared));
}

#[test]
fn a_conditional_append_behind_the_log_is_refused_and_writes_nothing() {
    let u = tempfile::tempdir().expect("tmp");
    let shared = open(u.path());
    shared.log_run(&run("a", &[], &["x"])).expect("run");
    let event = shared.events_after(0, 1).expect("events").remove(0);
    let refused = shared.append(0, &[event]);
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(shared.last_seq(), 1);
}

#[test]
fn concurrent_writers_on_two_mirrors_make_one_history_that_a_new_mirror_replays() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let shared = Arc::new(open(dirs[0].path()));
    let a = Arc::new(open(dirs[1].path()));
    let b = Arc::new(open(dirs[2].path()));
    a.set_upstream(shared.clone()).expect("set");
    b.set_upstream(shared.clone()).expect("set");
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            std::thread::spawn(move || {
                let mut prev = String::from("seed");
                for i in 0..150 {
                    let out = format!("w{w}-{i}");
                    let input = if i % 3 == 0 { "shared.csv".to_string() } else { prev.clone() };
                    let mut r = run(&format!("step{w}"), &[&input], &[&out, "shared.csv"]);
                    r.idempotency_key = Some(format!("k{w}-{i}"));
                    store.log_run(&r).expect("logged");
                    prev = out;
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    for mirror in [&a, &b] {
        while mirror.follow_upstream(10_000, Duration::ZERO).expect("follow") > 0 {}
        assert_eq!(export(mirror), export(&shared));
    }
    assert_eq!(shared.last_seq(), 300);
    let c = open(dirs[3].path());
    c.set_upstream(shared.clone()).expect("set");
    while c.follow_upstream(64, Duration::ZERO).expect("follow") > 0 {}
    assert_eq!(export(&c), export(&shared));
    // An idempotency key logged on one node answers the same run on another.
    let mut again = run("step0", &["shared.csv"], &["w0-0", "shared.csv"]);
    again.idempotency_key = Some("k0-0".into());
    let hit = b.log_run(&again).expect("idempotent");
    assert_eq!(shared.last_seq(), 300, "nothing new was appended: {hit:?}");
}
