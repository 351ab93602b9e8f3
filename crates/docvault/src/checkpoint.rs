//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs inside the connection that commits:
//! every ~1,000 WAL frames one unlucky commit copies them into the database
//! file and syncs both files, on the thread that committed. Profiles of one-document
//! creates put that at 17% of the writer's time. Here the writer's WAL hook
//! only signals a thread of our own, which runs the same PASSIVE checkpoint on
//! its own connection (on another core) while the writer goes on.
//!
//! SQLite starts the WAL over from the beginning only when a write begins
//! with every frame copied, which a thread running beside a busy writer
//! rarely sees. So the writer keeps a fallback: once the WAL reaches
//! [`Config::wal_limit_bytes`](crate::Config::wal_limit_bytes) (64 MiB by
//! default), a commit checkpoints inline, as SQLite itself would have, but
//! finds all but the last frames copied already; the next write starts the
//! WAL over. One-document creates ran 1.2-1.25x faster (medians of six
//! interleaved 4 s runs of `examples/creates`, 100k store) than with
//! SQLite's own checkpoints.
//!
//! The fallback is the writer's one stall per turn of the WAL: three syncs
//! (the WAL, the database, and at the next write the new WAL header), and
//! nothing else can start the WAL over. Its cost per write therefore falls
//! as the limit grows: at 32 MiB a thread creating documents one at a time
//! was off its core 21% of the time, most of it in those syncs, and 64 MiB
//! made one-document creates 1.05-1.10x faster at one thread and
//! 1.02-1.12x at eight (alternating runs of `examples/creates` on copies
//! of a 100,000-document store); 128 MiB added nothing beyond noise.
//!
//! A checkpoint never loses or reorders anything: the thread copies only
//! frames that are committed, SQLite's own locks keep it from copying a frame
//! a reader still needs, and durability is the writer's (`synchronous` is the
//! same on this connection, so a checkpoint syncs what SQLite's would).

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rusqlite::wal::CheckpointMode;
use rusqlite::Connection;

use crate::error::Result;

/// WAL frames not yet copied after which a commit asks for a checkpoint
/// (SQLite's own automatic threshold).
const START_FRAMES: i32 = 1000;

/// Smallest accepted [`Config::wal_limit_bytes`](crate::Config::wal_limit_bytes):
/// below a few background steps the fallback would run at every commit.
pub(crate) const MIN_WAL_LIMIT_BYTES: u64 = 4 << 20;

/// Where the background copies and the fallback start, in WAL frames.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Frames not yet copied after which a commit asks the thread for a
    /// checkpoint: [`START_FRAMES`], or half the fallback's frames when a
    /// small limit of large pages leaves fewer (else the thread would never
    /// be asked, and every turn of the WAL would be a fallback).
    start: i32,
    /// The smaller step the thread copies in near the fallback.
    fine_step: i32,
    /// Frames after which a commit checkpoints inline, unless the thread
    /// is checkpointing.
    force: i32,
    /// Frames after which a commit that finds the thread checkpointing
    /// waits for it, then checkpoints (a quarter past `force`). Waiting
    /// from `force` on made one-document creates 0.91x as fast (seven
    /// alternating pairs of `examples/creates`): the writer waited for
    /// the thread's sync at almost every pass of the threshold.
    wait: i32,
}

impl Limits {
    /// The limits for a WAL of at most `bytes` of `page_size` pages (each
    /// frame is a page and a 24-byte header).
    pub(crate) fn new(bytes: u64, page_size: u32) -> Limits {
        let frames = bytes / (u64::from(page_size) + 24);
        let force = i32::try_from(frames).unwrap_or(i32::MAX / 2).max(1);
        let start = START_FRAMES.min(force / 2).max(1);
        Limits {
            start,
            fine_step: (start / 10).max(1),
            force,
            wait: force.saturating_add(force / 4),
        }
    }
}

/// Checkpoint statistics.
#[derive(Debug, Default)]
pub(crate) struct CheckpointCounters {
    /// Checkpoints run by the checkpoint thread.
    pub background: AtomicU64,
    /// Checkpoints a commit had to run itself.
    pub inline: AtomicU64,
}

#[derive(Default)]
struct State {
    requested: bool,
    stop: bool,
}

#[derive(Default)]
struct Signal {
    state: Mutex<State>,
    cv: Condvar,
    /// Held by whichever of the thread and the writer's fallback is
    /// checkpointing. Past [`Limits::wait`] the fallback waits for it: when
    /// it always gave up on finding the thread busy, a slow disk (syncs of
    /// seconds under I/O load) kept the thread in one long checkpoint while
    /// commit after commit skipped the fallback, and the WAL grew to 2-3
    /// times its bound (`tests/checkpoint.rs`, with large synced writes
    /// beside the store).
    checkpointing: Mutex<()>,
    /// WAL frames the last background checkpoint had copied.
    copied: AtomicI32,
}

/// The checkpoint thread.
pub(crate) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on `conn` (keyed and configured like the writer)
    /// and installs the writer's WAL hook, which replaces SQLite's
    /// automatic checkpoint.
    pub(crate) fn start(
        writer: &mut Connection,
        conn: Connection,
        counters: Arc<CheckpointCounters>,
        limits: Limits,
    ) -> Result<Checkpointer> {
        let signal = Arc::new(Signal::default());
        let thread = {
            let signal = Arc::clone(&signal);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("docvault-checkpoint".into())
                .spawn(move || run(conn, &signal, &counters))?
        };
        let hook_signal = Arc::clone(&signal);
        writer.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames: i32| {
            if frames >= limits.force {
                // If the thread is checkpointing, the next commit tries
                // again; past `limits.wait` this one waits for it, then copies
                // what it left. The hook runs after the commit has let go of
                // the write lock, and a PASSIVE checkpoint never waits for
                // the writer, so the thread cannot be waiting for us.
                let turn = match hook_signal.checkpointing.try_lock() {
                    Ok(turn) => Some(turn),
                    Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
                    Err(std::sync::TryLockError::WouldBlock) if frames >= limits.wait => Some(
                        hook_signal
                            .checkpointing
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()),
                    ),
                    Err(std::sync::TryLockError::WouldBlock) => None,
                };
                if turn.is_some() && wal.checkpoint_v2(CheckpointMode::PASSIVE).is_ok() {
                    counters.inline.fetch_add(1, Relaxed);
                }
            } else {
                // Fewer frames than were copied: the WAL has started over.
                let copied = hook_signal.copied.load(Relaxed);
                let waiting = if frames < copied {
                    frames
                } else {
                    frames - copied
                };
                // Close to the fallback, copy in small steps, so that the
                // inline checkpoint finds little left to copy and sync.
                let step = if frames >= limits.force - limits.start {
                    limits.fine_step
                } else {
                    limits.start
                };
                if waiting >= step {
                    hook_signal.request();
                }
            }
            Ok(())
        }))?;
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }
}

/// Dropping stops the thread and waits for its checkpoint in progress.
impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop = true;
        self.signal.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Signal {
    fn request(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !s.requested {
            s.requested = true;
            self.cv.notify_one();
        }
    }
}

fn run(conn: Connection, signal: &Signal, counters: &CheckpointCounters) {
    loop {
        {
            let mut s = signal.state.lock().unwrap_or_else(|e| e.into_inner());
            while !s.requested && !s.stop {
                s = signal.cv.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.stop {
                return;
            }
            s.requested = false;
        }
        // An I/O error: the next commit past the threshold asks again.
        let _turn = signal
            .checkpointing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Ok((_, copied)) = conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            counters.background.fetch_add(1, Relaxed);
            signal.copied.store(copied.max(0), Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_whole_frames_of_the_store_page_size() {
        // A frame is a page and its 24-byte header.
        let l = Limits::new(64 << 20, 4096);
        assert_eq!(l.force, (64 << 20) / 4120);
        assert_eq!(l.wait, l.force + l.force / 4);
        assert_eq!((l.start, l.fine_step), (START_FRAMES, START_FRAMES / 10));
        let big_pages = Limits::new(64 << 20, 65536);
        assert_eq!(big_pages.force, (64 << 20) / 65560);
        // The thread is asked for copies before the fallback, whatever the
        // page size: at the smallest limit with 64 KiB pages the fallback
        // is at 63 frames, below the default step of 100 (a review found
        // every turn of such a WAL a fallback).
        for page_size in [512, 4096, 65536] {
            let l = Limits::new(MIN_WAL_LIMIT_BYTES, page_size);
            assert!(
                l.start < l.force && l.fine_step < l.force,
                "{page_size}: {l:?}"
            );
        }
        // Absurd limits saturate instead of overflowing.
        let huge = Limits::new(u64::MAX, 512);
        assert!(huge.force > 0 && huge.wait >= huge.force);
    }
}
