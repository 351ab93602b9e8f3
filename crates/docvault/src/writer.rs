//! The write path: one writer thread that owns the writer connection and
//! commits concurrent writes together (group commit).
//!
//! Callers send jobs over a channel and block on their own reply. The thread
//! takes the first job and every job already queued behind it (up to
//! [`MAX_BATCH`]), runs each inside its own SAVEPOINT of one IMMEDIATE
//! transaction, and commits once: one sync for the whole group when
//! durability is `full`. A job that fails is rolled back to its savepoint
//! alone, so it never fails its neighbours. Replies are sent only after the
//! commit, so no caller learns of a success that is not durable yet.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Most jobs in one transaction; bounds how long one commit holds the lock.
pub(crate) const MAX_BATCH: usize = 256;

/// Runs inside a savepoint; returns the completion that delivers the job's
/// outcome once the group's commit outcome is known.
/// Given the connection, or the reason the job cannot run at all.
type Job = Box<dyn FnOnce(Result<&Connection>) -> (bool, Completion) + Send>;
type Completion = Box<dyn FnOnce(Result<()>) + Send>;

enum Msg {
    Job(Job),
    Stop,
}

pub(crate) struct Writer {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<Connection>>,
}

/// Statistics of the writer.
#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    pub commits: std::sync::atomic::AtomicU64,
    pub jobs: std::sync::atomic::AtomicU64,
}

impl Writer {
    pub(crate) fn start(
        conn: Connection,
        counters: std::sync::Arc<WriterCounters>,
        max_batch: usize,
    ) -> Result<Writer> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(4 * MAX_BATCH);
        let thread = std::thread::Builder::new()
            .name("docvault-writer".into())
            .spawn(move || run(conn, rx, &counters, max_batch.max(1)))?;
        Ok(Writer {
            tx,
            thread: Some(thread),
        })
    }

    /// Runs `f` in the next group transaction and waits for the commit.
    pub(crate) fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = mpsc::sync_channel::<Result<T>>(1);
        let job: Job = Box::new(move |conn| {
            let out = conn.and_then(f);
            let ok = out.is_ok();
            let completion: Completion = Box::new(move |commit: Result<()>| {
                let _ = reply_tx.send(match (out, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(e),
                });
            });
            (ok, completion)
        });
        self.tx.send(Msg::Job(job)).map_err(|_| Error::Closed)?;
        reply_rx.recv().map_err(|_| Error::Closed)?
    }

    /// Stops the thread after the queued jobs and hands back the connection.
    pub(crate) fn stop(&mut self) -> Option<Connection> {
        let _ = self.tx.send(Msg::Stop);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

fn run(
    conn: Connection,
    rx: Receiver<Msg>,
    counters: &WriterCounters,
    max_batch: usize,
) -> Connection {
    use std::sync::atomic::Ordering::Relaxed;
    let mut stopping = false;
    while !stopping {
        let first = match rx.recv() {
            Ok(Msg::Job(j)) => j,
            Ok(Msg::Stop) | Err(_) => break,
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(j),
                Ok(Msg::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        counters.jobs.fetch_add(batch.len() as u64, Relaxed);
        counters.commits.fetch_add(1, Relaxed);
        let completions = run_batch(&conn, batch);
        // The commit's outcome has been folded into each completion's input.
        for (c, outcome) in completions {
            c(outcome);
        }
    }
    conn
}

fn run_batch(conn: &Connection, batch: Vec<Job>) -> Vec<(Completion, Result<()>)> {
    // Cached statements: parsing these on every job showed in profiles.
    let exec =
        |sql: &str| -> rusqlite::Result<()> { conn.prepare_cached(sql)?.execute([]).map(drop) };
    let begin = exec("BEGIN IMMEDIATE");
    if let Err(e) = begin {
        let msg = Error::from(e).to_string();
        return batch
            .into_iter()
            .map(|job| {
                // The job never ran: fail it without touching the database.
                let (_, c) = job(Err(Error::Database(msg.clone())));
                (c, Ok(()))
            })
            .collect();
    }
    if batch.len() == 1 {
        // Alone in its transaction, a job needs no savepoint: the
        // transaction is its savepoint. (Statement journals under a
        // savepoint made FTS5 triggers many times slower: measured.)
        let job = batch.into_iter().next().expect("one job");
        let (ok, c) = job(Ok(conn));
        if !ok {
            let _ = exec("ROLLBACK");
            return vec![(c, Ok(()))];
        }
        return vec![(c, commit_or_rollback(&exec))];
    }
    let mut done = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = exec("SAVEPOINT job") {
            let msg = Error::from(e).to_string();
            let (_, c) = job(Err(Error::Database(msg)));
            done.push((c, Ok(())));
            continue;
        }
        let (ok, c) = job(Ok(conn));
        let end = if ok {
            exec("RELEASE job")
        } else {
            exec("ROLLBACK TO job").and_then(|()| exec("RELEASE job"))
        };
        done.push((c, end.map_err(Error::from)));
    }
    match commit_or_rollback(&exec) {
        Ok(()) => done,
        Err(e) => {
            let msg = e.to_string();
            done.into_iter()
                .map(|(c, _)| (c, Err(Error::Database(msg.clone()))))
                .collect()
        }
    }
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
