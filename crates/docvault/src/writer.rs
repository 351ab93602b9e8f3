//! The write path: one writer connection, and concurrent writes committed
//! together (group commit).
//!
//! A caller queues its job. If nobody is writing, it runs the job itself,
//! on its own thread, in a transaction of its own: a lone write pays no
//! hand-off. If somebody is, it waits for its outcome, and once the
//! running group is committed the writer thread takes over and runs
//! everything queued meanwhile (up to [`MAX_BATCH`] jobs) in one IMMEDIATE
//! transaction, committed once: one sync for the whole group when
//! durability is `full`. The thread goes on, group after group, until the
//! queue is empty; under load (groups of two or more) it waits a moment
//! for more, and writes arriving within 2 ms after still go to it. Then
//! the next caller runs its job itself again. Outcomes are handed out
//! only after the commit, so no caller learns of a success that is not
//! durable yet.
//!
//! A job that fails never fails its neighbours. A group runs its jobs
//! back to back, optimistically; if one fails (or panics), the whole
//! transaction is rolled back, that job keeps its error, and the others
//! run again, each inside a SAVEPOINT of a new transaction, so that a
//! failure there is undone alone. The groups after a failure keep the
//! savepoints for a while ([`SAVEPOINT_GROUPS_AFTER_FAILURE`]), so that a
//! workload where writes often fail (conflicting updates, say) does not
//! run its groups twice. A job may therefore run twice before its
//! outcome: jobs are `FnMut` and have no effects outside the transaction.
//! Without a savepoint for every job, 8-thread creates ran 1.03-1.15x as
//! fast (`examples/creates DB 5 8` on copies of a 100,000-document store,
//! five alternating rounds): under a savepoint, a job that changes a page
//! an earlier job of the group changed already first copies it to the
//! statement journal, in case it must be undone alone, and the jobs of a
//! group change the same pages (the ends of the same b-trees, the
//! counters, the audit head).
//!
//! Until session 10 the thread ran every job: two thread wake-ups per
//! one-document create (the job to the thread, the outcome back), each a
//! futex call and, on a busy 2-core machine, a wait for a core. Running a
//! lone job on its caller's thread made one-document creates 1.4-1.5x
//! faster. Handing the lead of a busy queue from caller to caller instead
//! of to the thread (as LevelDB does) made 8-thread creates 0.9x as fast:
//! every group began with waking a caller that then had to find a core,
//! and groups shrank.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Most jobs in one transaction; bounds how long one commit holds the lock.
pub(crate) const MAX_BATCH: usize = 256;

/// Groups that give each job a savepoint after a job of a group failed.
const SAVEPOINT_GROUPS_AFTER_FAILURE: u32 = 64;

/// Runs inside a savepoint; returns the completion that delivers the job's
/// outcome once the group's commit outcome is known.
/// Given the connection, or the reason the job cannot run at all.
type Job = Box<dyn FnMut(Result<&Connection>) -> (bool, Completion) + Send>;
type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// Where a queued job's caller waits for its outcome. (A caller waits
/// only while another holds the lead, so it is nearly always asleep by the
/// time its group is done: no flag to spare the notify.)
#[derive(Default)]
struct Slot {
    done: Mutex<bool>,
    changed: Condvar,
}

/// Times the writer thread, finding the queue empty, yields its core and
/// looks again before it gives up the lead: under load the next write is
/// usually a few microseconds away. (Waiting callers do not spin: with 8
/// writers on 2 cores, their spinning took the cores the group needed,
/// halved the groups and made creates 0.94x as fast.)
const SPINS: u32 = 16;

/// How long after the thread last gave up the lead a new write still goes
/// to it rather than running on its caller's thread: a caller writing
/// alone in the middle of a busy stretch commits a group of one while the
/// others queue behind it. Without this (and the thread's wait for more),
/// 8-thread creates ran 0.95-0.99x as fast as with a thread for every
/// write; with both, 1.01-1.04x.
const BUSY_FOR: Duration = Duration::from_millis(2);

impl Slot {
    fn set_done(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_one();
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.changed.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Who holds the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    Nobody,
    /// A caller running its own job.
    Caller,
    /// The writer thread, until the queue is empty.
    Thread,
}

struct State {
    queue: VecDeque<(Job, Arc<Slot>)>,
    /// The connection, while nobody holds it.
    conn: Option<Connection>,
    lead: Lead,
    /// No new jobs.
    stopped: bool,
    /// The thread is to end.
    exit: bool,
    /// When the thread last gave up the lead.
    thread_left: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the thread: the lead is its, or it is to end.
    work: Condvar,
    /// Signalled when the lead ends with nothing queued (for [`Writer::stop`]).
    idle: Condvar,
    counters: Arc<WriterCounters>,
    max_batch: usize,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Statistics of the writer.
#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    pub commits: std::sync::atomic::AtomicU64,
    pub jobs: std::sync::atomic::AtomicU64,
    /// Groups run again, with a savepoint per job, after one of their
    /// jobs failed.
    pub reruns: std::sync::atomic::AtomicU64,
    /// Groups left that give each job a savepoint from the start.
    savepoint_groups: std::sync::atomic::AtomicU32,
}

impl Writer {
    pub(crate) fn start(
        conn: Connection,
        counters: Arc<WriterCounters>,
        max_batch: usize,
    ) -> Result<Writer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                conn: Some(conn),
                lead: Lead::Nobody,
                stopped: false,
                exit: false,
                thread_left: None,
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
            counters,
            max_batch: max_batch.max(1),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("docvault-writer".into())
            .spawn(move || for_thread.thread())?;
        Ok(Writer {
            shared,
            thread: Some(thread),
        })
    }

    /// Runs `f` in the next group transaction and waits for the commit.
    pub(crate) fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T> + Send + 'static,
    {
        let mut f = f;
        let reply: Arc<Mutex<Option<Result<T>>>> = Arc::new(Mutex::new(None));
        let to = Arc::clone(&reply);
        let job: Job = Box::new(move |conn| {
            let out = conn.and_then(&mut f);
            let ok = out.is_ok();
            let to = Arc::clone(&to);
            let completion: Completion = Box::new(move |commit: Result<()>| {
                *to.lock().unwrap_or_else(|e| e.into_inner()) = Some(match (out, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(e),
                });
            });
            (ok, completion)
        });
        let slot = Arc::new(Slot::default());
        let sh = &self.shared;
        let mine = {
            let mut st = sh.lock();
            if st.stopped {
                return Err(Error::Closed);
            }
            st.queue.push_back((job, Arc::clone(&slot)));
            if st.lead != Lead::Nobody {
                false
            } else if st.thread_left.is_some_and(|t| t.elapsed() < BUSY_FOR) {
                // Writes were queueing a moment ago: the thread, which
                // gathers them into groups, takes this one too.
                st.lead = Lead::Thread;
                sh.work.notify_one();
                false
            } else {
                st.lead = Lead::Caller;
                true
            }
        };
        if mine {
            // Nobody was writing, so the queue held only this job.
            sh.run_group();
            let mut st = sh.lock();
            if st.queue.is_empty() {
                st.lead = Lead::Nobody;
                sh.idle.notify_all();
            } else {
                st.lead = Lead::Thread;
                sh.work.notify_one();
            }
        } else {
            slot.wait();
        }
        let out = reply.lock().unwrap_or_else(|e| e.into_inner()).take();
        out.unwrap_or_else(|| Err(Error::Database("a write job panicked".into())))
    }

    /// Refuses new jobs, waits for the queued ones, ends the thread and
    /// hands back the connection.
    pub(crate) fn stop(&mut self) -> Option<Connection> {
        let sh = &self.shared;
        {
            let mut st = sh.lock();
            st.stopped = true;
            while st.lead != Lead::Nobody {
                st = sh.idle.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.exit = true;
            sh.work.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        sh.lock().conn.take()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer thread: runs groups while the lead is its.
    fn thread(&self) {
        loop {
            {
                let mut st = self.lock();
                while st.lead != Lead::Thread && !st.exit {
                    st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                if st.lead != Lead::Thread {
                    return;
                }
            }
            // One stint: groups while writes keep coming. Only writes that
            // queued together (a group of two or more) count as load: a
            // lone caller whose write once queued behind another's (the
            // background flush's, say) goes back to writing on its own
            // thread, instead of being handed to this one ever after.
            let mut loaded = false;
            loop {
                let n = self.run_group();
                loaded |= n > 1;
                let mut spins = 0;
                let mut st = self.lock();
                while st.queue.is_empty() && n > 1 && spins < SPINS {
                    drop(st);
                    std::thread::yield_now();
                    spins += 1;
                    st = self.lock();
                }
                if st.queue.is_empty() {
                    st.lead = Lead::Nobody;
                    st.thread_left = loaded.then(Instant::now);
                    self.idle.notify_all();
                    break;
                }
            }
        }
    }

    /// Runs the jobs queued now (up to `max_batch`, from the front) as one
    /// group and hands each its outcome; returns how many ran. The caller
    /// holds the lead.
    fn run_group(&self) -> usize {
        use Ordering::Relaxed;
        let (conn, group) = {
            let mut st = self.lock();
            let n = st.queue.len().min(self.max_batch);
            let group: Vec<_> = st.queue.drain(..n).collect();
            (
                st.conn.take().expect("the lead holds the connection"),
                group,
            )
        };
        let (jobs, slots): (Vec<Job>, Vec<Arc<Slot>>) = group.into_iter().unzip();
        self.counters.jobs.fetch_add(jobs.len() as u64, Relaxed);
        self.counters.commits.fetch_add(1, Relaxed);
        // A job's panic fails that job alone (see `run_batch`). This is the
        // net under the rest: nothing may take the connection or the lead
        // with it, or every later write would wait forever. Each caller of
        // the group without an outcome then gets an error.
        let delivered = catch_unwind(AssertUnwindSafe(|| {
            for (c, outcome) in run_batch(&conn, jobs, &self.counters) {
                c(outcome);
            }
        }));
        if delivered.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.lock().conn = Some(conn);
        for s in &slots {
            s.set_done();
        }
        slots.len()
    }
}

/// Runs a job; `None` if it panicked (a bug), in which case its caller
/// gets an error and the job's changes must be undone.
fn run_job(job: &mut Job, conn: &Connection) -> Option<(bool, Completion)> {
    catch_unwind(AssertUnwindSafe(|| job(Ok(conn)))).ok()
}

fn run_batch(
    conn: &Connection,
    mut batch: Vec<Job>,
    counters: &WriterCounters,
) -> Vec<(Completion, Result<()>)> {
    use Ordering::Relaxed;
    // Cached statements: parsing these on every job showed in profiles.
    let exec =
        |sql: &str| -> rusqlite::Result<()> { conn.prepare_cached(sql)?.execute([]).map(drop) };
    let begin = exec("BEGIN IMMEDIATE");
    if let Err(e) = begin {
        let msg = Error::from(e).to_string();
        return batch.into_iter().map(|job| never_ran(job, &msg)).collect();
    }
    if batch.len() == 1 {
        // Alone in its transaction, a job needs no savepoint: the
        // transaction is its savepoint. (Statement journals under a
        // savepoint made FTS5 triggers many times slower: measured.)
        let mut job = batch.into_iter().next().expect("one job");
        return match run_job(&mut job, conn) {
            Some((true, c)) => vec![(c, commit_or_rollback(&exec))],
            Some((false, c)) => {
                let _ = exec("ROLLBACK");
                vec![(c, Ok(()))]
            }
            None => {
                let _ = exec("ROLLBACK");
                Vec::new()
            }
        };
    }
    let mut done = Vec::with_capacity(batch.len());
    let savepoints = counters
        .savepoint_groups
        .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if !savepoints {
        // Optimistically: no savepoints, as long as every job succeeds.
        let mut failed = None;
        for (i, job) in batch.iter_mut().enumerate() {
            match run_job(job, conn) {
                Some((true, c)) => done.push((c, Ok(()))),
                ran => {
                    failed = Some((i, ran));
                    break;
                }
            }
        }
        let Some((i, ran)) = failed else {
            return match commit_or_rollback(&exec) {
                Ok(()) => done,
                Err(e) => fail_all(done, &e),
            };
        };
        // Undo the whole group; the failed job keeps its outcome (a
        // panicked one has none: its caller learns of the panic), and
        // the others run again below, each in a savepoint.
        let _ = exec("ROLLBACK");
        counters.reruns.fetch_add(1, Relaxed);
        counters
            .savepoint_groups
            .store(SAVEPOINT_GROUPS_AFTER_FAILURE, Relaxed);
        drop(batch.remove(i));
        done = ran.map(|(_, c)| (c, Ok(()))).into_iter().collect();
        if let Err(e) = exec("BEGIN IMMEDIATE") {
            let msg = Error::from(e).to_string();
            done.extend(batch.into_iter().map(|job| never_ran(job, &msg)));
            return done;
        }
    }
    for mut job in batch {
        if let Err(e) = exec("SAVEPOINT job") {
            done.push(never_ran(job, &Error::from(e).to_string()));
            continue;
        }
        let ran = run_job(&mut job, conn);
        let end = if matches!(ran, Some((true, _))) {
            exec("RELEASE job")
        } else {
            exec("ROLLBACK TO job").and_then(|()| exec("RELEASE job"))
        };
        if let Some((_, c)) = ran {
            done.push((c, end.map_err(Error::from)));
        }
    }
    match commit_or_rollback(&exec) {
        Ok(()) => done,
        Err(e) => fail_all(done, &e),
    }
}

/// The outcome of a job whose transaction or savepoint could not start: it
/// fails without touching the database.
fn never_ran(mut job: Job, msg: &str) -> (Completion, Result<()>) {
    let (_, c) = job(Err(Error::Database(msg.to_owned())));
    (c, Ok(()))
}

/// The outcomes of a group whose commit failed: every job fails with it.
fn fail_all(done: Vec<(Completion, Result<()>)>, e: &Error) -> Vec<(Completion, Result<()>)> {
    let msg = e.to_string();
    done.into_iter()
        .map(|(c, _)| (c, Err(Error::Database(msg.clone()))))
        .collect()
}

/// Indexes what is pending for search if it has piled up, then commits.
fn commit_or_rollback(exec: &dyn Fn(&str) -> rusqlite::Result<()>) -> Result<()> {
    exec(crate::search::schema::FLUSH_PENDING_IF_MANY)
        .and_then(|()| exec("COMMIT"))
        .map_err(|e| {
            let _ = exec("ROLLBACK");
            Error::Database(format!("commit failed: {}", Error::from(e)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    /// A store's schema (each commit asks the search tables whether to
    /// index) and a table of its own.
    fn connection(dir: &tempfile::TempDir) -> Connection {
        let mut conn = Connection::open(dir.path().join("w.db")).unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER);").unwrap();
        conn
    }

    fn writer(dir: &tempfile::TempDir) -> Writer {
        Writer::start(connection(dir), Arc::default(), MAX_BATCH).unwrap()
    }

    fn count(w: &Writer) -> i64 {
        w.submit(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .unwrap()
    }

    type Queued<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

    /// Runs each of `queued` on a thread of its own while a first write
    /// (inserting 0) holds the connection, so that their writes queue
    /// behind it, in order (each thread starts once the one before it has
    /// queued); lets the first finish once all have queued, and returns
    /// their outcomes in order.
    fn behind_a_running_write<'a, T: Send>(w: &'a Writer, queued: Vec<Queued<'a, T>>) -> Vec<T> {
        let started = Arc::new(Barrier::new(2));
        let release = Arc::new(Barrier::new(2));
        std::thread::scope(|s| {
            let (b1, b2) = (Arc::clone(&started), Arc::clone(&release));
            let first = s.spawn(move || {
                w.submit(move |c| {
                    b1.wait();
                    b2.wait();
                    Ok(c.execute("INSERT INTO t VALUES (0)", [])?)
                })
            });
            started.wait();
            let rest: Vec<_> = queued
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    let h = s.spawn(f);
                    while w.shared.lock().queue.len() <= i {
                        std::thread::yield_now();
                    }
                    h
                })
                .collect();
            release.wait();
            assert_eq!(first.join().unwrap().unwrap(), 1);
            rest.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// Alone, a write runs on its caller's thread: no hand-off to the
    /// writer thread and back.
    #[test]
    fn a_lone_write_runs_on_its_callers_thread() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        for _ in 0..3 {
            let ran_on = w.submit(|_| Ok(std::thread::current().id())).unwrap();
            assert_eq!(ran_on, std::thread::current().id());
        }
    }

    /// A write that once queued behind another's (as the background flush's
    /// does now and then) does not hand a lone caller's later writes to the
    /// writer thread: only writes queueing together are load.
    #[test]
    fn a_lone_caller_writes_on_its_own_thread_after_one_queued_write() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let queued: Queued<_> = Box::new(|| {
            let me = std::thread::current().id();
            (me, w.submit(|_| Ok(std::thread::current().id())))
        });
        let (caller, ran_on) = behind_a_running_write(&w, vec![queued]).remove(0);
        assert_ne!(
            ran_on.unwrap(),
            caller,
            "a queued write runs on the writer thread"
        );
        // The caller has its outcome before the thread gives the lead up.
        while w.shared.lock().lead != Lead::Nobody {
            std::thread::yield_now();
        }
        // The thread ran a group of one: no load, so no window in which
        // new writes still go to it.
        assert_eq!(w.shared.lock().thread_left, None);
        for _ in 0..20 {
            let ran_on = w.submit(|_| Ok(std::thread::current().id())).unwrap();
            assert_eq!(ran_on, std::thread::current().id());
        }
    }

    /// Writes that arrive while one runs wait for it and are committed
    /// together, each with its own outcome.
    #[test]
    fn writes_queued_behind_a_running_one_share_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(WriterCounters::default());
        let w = Writer::start(connection(&dir), Arc::clone(&counters), MAX_BATCH).unwrap();
        // The first write holds the connection: these queue.
        let queued = (1..=5)
            .map(|i| -> Queued<_> {
                let w = &w;
                Box::new(move || {
                    w.submit(move |c| {
                        if i == 3 {
                            return Err(Error::Validation {
                                field: "x".into(),
                                reason: "refused".into(),
                            });
                        }
                        c.execute("INSERT INTO t VALUES (?1)", [i])?;
                        Ok(c.last_insert_rowid() * 100 + i)
                    })
                })
            })
            .collect();
        // Each caller gets its own job's outcome: its own value and the row
        // it inserted (rows 2..=5, less the refused one's).
        let mut rows = Vec::new();
        for (i, out) in (1..=5).zip(behind_a_running_write(&w, queued)) {
            if i == 3 {
                assert_eq!(out.unwrap_err().kind(), "validation");
            } else {
                let v = out.unwrap();
                assert_eq!(v % 100, i, "caller {i} got {v}");
                rows.push(v / 100);
            }
        }
        rows.sort();
        assert_eq!(rows, [2, 3, 4, 5]);
        use std::sync::atomic::Ordering::Relaxed;
        // The first write's own commit, then one for the five behind it
        // (plus the count below).
        assert_eq!(counters.jobs.load(Relaxed), 6);
        assert_eq!(counters.commits.load(Relaxed), 2);
        assert_eq!(count(&w), 5);
    }

    /// Queues jobs 1..=5 behind a running write; job `failing` inserts its
    /// row and then fails. Returns each job's outcome and how many times
    /// each ran.
    fn group_with_a_failure(w: &Writer, failing: i64) -> (Vec<Result<i64>>, Vec<usize>) {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let runs: Vec<Arc<AtomicUsize>> = (0..5).map(|_| Arc::default()).collect();
        let queued = (1..=5)
            .map(|i| -> Queued<_> {
                let runs = Arc::clone(&runs[i as usize - 1]);
                Box::new(move || {
                    w.submit(move |c| {
                        runs.fetch_add(1, Relaxed);
                        c.execute("INSERT INTO t VALUES (?1)", [i])?;
                        if i == failing {
                            return Err(Error::validation("x", "refused"));
                        }
                        Ok(i)
                    })
                })
            })
            .collect();
        let outs = behind_a_running_write(w, queued);
        (outs, runs.iter().map(|r| r.load(Relaxed)).collect())
    }

    fn values(w: &Writer) -> Vec<i64> {
        w.submit(|c| {
            let mut st = c.prepare("SELECT x FROM t ORDER BY x")?;
            let v = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(v)
        })
        .unwrap()
    }

    /// A group runs without savepoints until a job fails; then the whole
    /// transaction is undone, the failed job keeps its error, and the jobs
    /// before it run again, each in a savepoint: every other job's changes
    /// land exactly once, in one commit.
    #[test]
    fn a_failed_job_undoes_its_group_which_runs_again_without_it() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(WriterCounters::default());
        let w = Writer::start(connection(&dir), Arc::clone(&counters), MAX_BATCH).unwrap();
        let (outs, runs) = group_with_a_failure(&w, 3);
        assert_eq!(outs[2].as_ref().unwrap_err().kind(), "validation");
        for i in [0, 1, 3, 4] {
            assert_eq!(*outs[i].as_ref().unwrap(), i as i64 + 1);
        }
        // Jobs 1 and 2 ran before the failure and again after it; job 3
        // is not run again; 4 and 5 ran only after it.
        assert_eq!(runs, [2, 2, 1, 1, 1]);
        assert_eq!(values(&w), [0, 1, 2, 4, 5]);
        assert_eq!(counters.reruns.load(Relaxed), 1);
        // The first write's own commit, one for the group, one for `values`.
        assert_eq!(counters.commits.load(Relaxed), 3);
    }

    /// After a failure the next groups give each job its savepoint from the
    /// start, so a failure there is undone alone, without running the
    /// group twice; later groups are optimistic again.
    #[test]
    fn groups_after_a_failure_use_savepoints_for_a_while() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(WriterCounters::default());
        let w = Writer::start(connection(&dir), Arc::clone(&counters), MAX_BATCH).unwrap();
        group_with_a_failure(&w, 5);
        assert_eq!(counters.reruns.load(Relaxed), 1);
        w.submit(|c| Ok(c.execute("DELETE FROM t", [])?)).unwrap();
        let (outs, runs) = group_with_a_failure(&w, 2);
        assert_eq!(outs[1].as_ref().unwrap_err().kind(), "validation");
        assert_eq!(
            runs,
            [1, 1, 1, 1, 1],
            "a savepoint per job: nothing ran twice"
        );
        assert_eq!(values(&w), [0, 1, 3, 4, 5]);
        assert_eq!(counters.reruns.load(Relaxed), 1);
        // Use up the groups with savepoints (that one was the first).
        for _ in 1..SAVEPOINT_GROUPS_AFTER_FAILURE {
            let queued: Vec<Queued<_>> = (0..2)
                .map(|_| -> Queued<_> { Box::new(|| w.submit(|_| Ok(0)).unwrap()) })
                .collect();
            behind_a_running_write(&w, queued);
        }
        assert_eq!(counters.savepoint_groups.load(Relaxed), 0);
        w.submit(|c| Ok(c.execute("DELETE FROM t", [])?)).unwrap();
        let (_, runs) = group_with_a_failure(&w, 2);
        assert_eq!(runs, [2, 1, 1, 1, 1], "optimistic again");
        assert_eq!(counters.reruns.load(Relaxed), 2);
    }

    /// A job that panics in a group fails its own call only: its neighbours
    /// commit, and the connection and the lead survive.
    #[test]
    fn a_panicking_job_in_a_group_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let queued = (1..=3)
            .map(|i| -> Queued<_> {
                let w = &w;
                Box::new(move || {
                    w.submit(move |c| {
                        c.execute("INSERT INTO t VALUES (?1)", [i])?;
                        if i == 2 {
                            panic!("a bug in job {i}");
                        }
                        Ok(())
                    })
                })
            })
            .collect();
        let outs = behind_a_running_write(&w, queued);
        assert!(outs[0].is_ok() && outs[2].is_ok(), "{outs:?}");
        assert_eq!(outs[1].as_ref().unwrap_err().kind(), "database");
        let values: Vec<i64> = w
            .submit(|c| {
                let mut st = c.prepare("SELECT x FROM t ORDER BY x")?;
                let v = st
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(v)
            })
            .unwrap();
        assert_eq!(values, [0, 1, 3], "the panicking job's insert was undone");
    }

    /// A job that panics alone fails its own call: the connection and the
    /// lead survive it.
    #[test]
    fn a_panicking_job_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let out: Result<()> = w.submit(|c| {
            c.execute("INSERT INTO t VALUES (1)", [])?;
            panic!("a bug in a job");
        });
        assert_eq!(out.unwrap_err().kind(), "database");
        w.submit(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?))
            .unwrap();
        // The panicking job's insert was rolled back.
        assert_eq!(count(&w), 1);
    }

    /// `stop` hands the connection back with every write committed, and
    /// refuses writes after it. (The store stops the writer only once no
    /// caller is inside it: it holds the writer's lock to do so.)
    #[test]
    fn stop_finishes_the_queue_and_then_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(&dir);
        std::thread::scope(|s| {
            let w = &w;
            for i in 0..8 {
                s.spawn(move || {
                    w.submit(move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [i])?))
                        .unwrap()
                });
            }
        });
        let conn = w.stop().expect("the connection");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 8);
        assert!(matches!(w.submit(|_| Ok(())), Err(Error::Closed)));
    }
}
