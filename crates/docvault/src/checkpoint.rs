//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the
//! threshold, on the writer: it copies the WAL into the database file and
//! syncs it, which profiling showed was a tenth of the writer's time and the
//! whole of its latency tail. Instead the writer's WAL hook only signals this
//! thread, which runs PASSIVE checkpoints on its own connection while writes
//! go on (a passive checkpoint never blocks writers or readers).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::error::Result;

/// WAL pages after which a checkpoint is asked for (SQLite's default).
pub(crate) const THRESHOLD_PAGES: i32 = 1000;

#[derive(Default)]
struct Signal {
    wanted: Mutex<bool>,
    cv: Condvar,
    stop: AtomicBool,
}

pub(crate) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread and hooks it to the writer connection's commits.
    pub(crate) fn start(path: &Path, writer: &mut Connection) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let signal = Arc::new(Signal::default());
        let hook_signal = Arc::clone(&signal);
        // Replaces SQLite's automatic checkpoint on the writer.
        writer.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages >= THRESHOLD_PAGES {
                let mut w = hook_signal.wanted.lock().unwrap_or_else(|e| e.into_inner());
                if !*w {
                    *w = true;
                    hook_signal.cv.notify_one();
                }
            }
            Ok(())
        }))?;
        let thread_signal = Arc::clone(&signal);
        let thread = std::thread::Builder::new()
            .name("docvault-checkpoint".into())
            .spawn(move || run(conn, &thread_signal))?;
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }

    pub(crate) fn stop(&mut self) {
        self.signal.stop.store(true, Ordering::SeqCst);
        {
            let _w = self.signal.wanted.lock().unwrap_or_else(|e| e.into_inner());
            self.signal.cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: Connection, signal: &Signal) {
    loop {
        {
            let mut w = signal.wanted.lock().unwrap_or_else(|e| e.into_inner());
            while !*w && !signal.stop.load(Ordering::SeqCst) {
                w = signal.cv.wait(w).unwrap_or_else(|e| e.into_inner());
            }
            if signal.stop.load(Ordering::SeqCst) {
                return;
            }
            *w = false;
        }
        // Busy or partial results are fine: the next signal tries again.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}
