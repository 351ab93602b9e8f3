//! A small pool of reader connections.
//!
//! SQLite connections are not shareable between threads at once, so each
//! reader borrows one for the duration of a read. Connections keep their
//! prepared-statement caches across borrows. At most `capacity` are open
//! (more threads than cores gain nothing but page-cache memory); a reader
//! that finds them all busy waits for one (yielding its core a few times
//! before it sleeps). A wait that outlasts
//! [`OVERFLOW_AFTER`] opens a temporary extra connection instead, so that a
//! caller holding one connection while asking for a second can never
//! deadlock the pool.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::Result;

/// How long a reader waits for a pooled connection before opening its own.
pub(crate) const OVERFLOW_AFTER: Duration = Duration::from_millis(50);

/// Times a reader yields its core and rechecks before it sleeps on the
/// pool; 16 yields cost ~16 µs, nothing against a wait long enough to
/// sleep through. With 8 threads on 2 cores and 2 connections, uncached gets
/// ran 1.3x faster than when every busy borrow slept, as fast as with 8
/// connections (examples, three alternating runs).
const SPINS: u32 = 16;

struct State {
    /// Idle connections, each with its slot number.
    idle: Vec<(usize, Connection)>,
    /// The slot number the next new connection takes.
    next_slot: usize,
    /// Pooled connections in existence (idle or borrowed).
    open: usize,
    /// Borrowers asleep on [`Pool::returned`]. A return wakes one only if
    /// there is one: on Linux the standard library's condition variable
    /// makes a `futex` system call on every notify, waiter or not, and that
    /// call took 3% of two threads' uncached gets (perf).
    sleepers: usize,
}

pub(crate) struct Pool {
    path: PathBuf,
    /// Tells this pool's slots apart from another's in [`LAST_SLOT`].
    id: u64,
    /// Borrows that found every pooled connection busy and waited.
    pub(crate) waits: std::sync::atomic::AtomicU64,
    /// Temporary extra connections opened after a wait ran out.
    pub(crate) overflows: std::sync::atomic::AtomicU64,
    state: Mutex<State>,
    returned: Condvar,
    capacity: usize,
    configure: Configure,
    /// [`OVERFLOW_AFTER`], except in tests.
    overflow_after: Duration,
}

/// Sets up each new connection (for an encrypted store, its first
/// statement hands over the key).
pub(crate) type Configure = Box<dyn Fn(&Connection) -> Result<()> + Send + Sync>;

static NEXT_POOL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// The pool and slot of the connection this thread borrowed last.
    ///
    /// A borrower takes that connection again when it is idle. Taking the
    /// most recently returned one instead handed two threads' connections
    /// back and forth between them on every read, so each read began by
    /// pulling the connection's page cache, statements and b-tree cursors
    /// over from the other core.
    static LAST_SLOT: std::cell::Cell<(u64, usize)> = const { std::cell::Cell::new((u64::MAX, 0)) };
}

/// A pool's connections at one moment (see [`Pool::counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolCounts {
    /// Most pooled connections open at once.
    pub(crate) capacity: usize,
    /// Pooled connections open, idle or borrowed.
    pub(crate) open: usize,
    /// Pooled connections open and not borrowed.
    pub(crate) idle: usize,
}

impl PoolCounts {
    /// Pooled connections borrowed now.
    pub(crate) fn in_use(self) -> usize {
        self.open.saturating_sub(self.idle)
    }
}

pub(crate) struct PooledConn<'a> {
    pool: &'a Pool,
    /// Which pooled connection this is (meaningless for a temporary one).
    slot: usize,
    conn: Option<Connection>,
    overflow: bool,
}

impl Pool {
    pub(crate) fn new(path: PathBuf, capacity: usize, configure: Configure) -> Self {
        Pool {
            path,
            waits: Default::default(),
            overflows: Default::default(),
            id: NEXT_POOL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: Mutex::new(State {
                idle: Vec::new(),
                next_slot: 0,
                open: 0,
                sleepers: 0,
            }),
            returned: Condvar::new(),
            capacity: capacity.max(1),
            configure,
            overflow_after: OVERFLOW_AFTER,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connect(&self) -> Result<Connection> {
        let c = crate::store::open_file(&self.path)?;
        (self.configure)(&c)?;
        Ok(c)
    }

    pub(crate) fn get(&self) -> Result<PooledConn<'_>> {
        let mut st = self.lock();
        let deadline = std::time::Instant::now() + self.overflow_after;
        let mut waited = false;
        let mut spins = 0;
        loop {
            if let Some((slot, c)) = self.take_idle(&mut st) {
                return Ok(self.wrap(c, slot, false));
            }
            if st.open < self.capacity {
                st.open += 1;
                let slot = st.next_slot;
                st.next_slot += 1;
                drop(st);
                return match self.connect() {
                    Ok(c) => Ok(self.wrap(c, slot, false)),
                    Err(e) => {
                        let mut st = self.lock();
                        st.open -= 1;
                        self.wake_one(st);
                        Err(e)
                    }
                };
            }
            if spins < SPINS {
                // Yield first: with more reader threads than cores, the
                // holder of a connection is usually runnable and a read
                // takes microseconds, so a sleep and wake-up per borrow
                // (a futex call and a context switch each) cost more than
                // the read.
                spins += 1;
                drop(st);
                std::thread::yield_now();
                st = self.lock();
                continue;
            }
            if !waited {
                waited = true;
                self.waits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                drop(st);
                self.overflows
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok(self.wrap(self.connect()?, usize::MAX, true));
            }
            st.sleepers += 1;
            st = self
                .returned
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            st.sleepers -= 1;
        }
    }

    /// Releases the lock, then wakes one sleeping borrower if there is one.
    /// A borrower checks for an idle connection under the lock before it
    /// sleeps, so one that registers after this check finds the change.
    fn wake_one(&self, st: std::sync::MutexGuard<'_, State>) {
        let sleepers = st.sleepers;
        drop(st);
        if sleepers > 0 {
            self.returned.notify_one();
        }
    }

    /// An idle connection, preferably the one this thread used last.
    fn take_idle(&self, st: &mut State) -> Option<(usize, Connection)> {
        let (pool, slot) = LAST_SLOT.get();
        let mine = (pool == self.id)
            .then(|| st.idle.iter().position(|(s, _)| *s == slot))
            .flatten();
        match mine {
            // `remove`, not `swap_remove`: the rest keep their order, so a
            // thread without a claim still gets the most recently returned.
            Some(i) => Some(st.idle.remove(i)),
            None => st.idle.pop(),
        }
    }

    fn wrap(&self, conn: Connection, slot: usize, overflow: bool) -> PooledConn<'_> {
        if !overflow {
            LAST_SLOT.set((self.id, slot));
        }
        PooledConn {
            pool: self,
            slot,
            conn: Some(conn),
            overflow,
        }
    }

    /// Capacity, open and idle pooled connections, read together so that
    /// open minus idle (those borrowed) is never negative. Temporary
    /// connections opened after a wait ran out are not counted.
    pub(crate) fn counts(&self) -> PoolCounts {
        let st = self.lock();
        PoolCounts {
            capacity: self.capacity,
            open: st.open,
            idle: st.idle.len(),
        }
    }

    /// Closes every idle connection.
    pub(crate) fn clear(&self) {
        let mut st = self.lock();
        let n = st.idle.len();
        st.idle.clear();
        st.open -= n;
    }
}

impl Deref for PooledConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        let Some(c) = self.conn.take() else { return };
        if self.overflow {
            return;
        }
        let mut st = self.pool.lock();
        // A connection left inside a transaction would pin an old snapshot.
        if c.is_autocommit() {
            st.idle.push((self.slot, c));
        } else {
            st.open -= 1;
        }
        self.pool.wake_one(st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Instant;

    fn pool(dir: &tempfile::TempDir, capacity: usize, overflow_after: Duration) -> Pool {
        pool_with(dir, capacity, overflow_after, Box::new(|_| Ok(())))
    }

    fn pool_with(
        dir: &tempfile::TempDir,
        capacity: usize,
        overflow_after: Duration,
        configure: Configure,
    ) -> Pool {
        let mut p = Pool::new(dir.path().join("p.db"), capacity, configure);
        p.overflow_after = overflow_after;
        p
    }

    /// A borrow that has to wait: how long it took, and whether it got a
    /// temporary connection.
    fn timed_get(p: &Pool) -> (Duration, bool) {
        let t = Instant::now();
        let c = p.get().unwrap();
        (t.elapsed(), c.overflow)
    }

    /// Returns once a borrower has counted its wait. It counts under the
    /// lock just before it sleeps, so by then it sleeps or is about to.
    fn until_a_borrower_waits(p: &Pool) {
        while p.waits.load(Relaxed) == 0 {
            std::thread::yield_now();
        }
    }

    /// A borrower asleep on a busy pool is woken by the return, not by its
    /// deadline: the return must notice the sleeper it no longer wakes
    /// unconditionally.
    #[test]
    fn a_return_wakes_a_sleeping_borrower() {
        let dir = tempfile::tempdir().unwrap();
        let p = pool(&dir, 1, Duration::from_secs(30));
        let held = p.get().unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| timed_get(&p));
            until_a_borrower_waits(&p);
            drop(held);
            let (took, overflow) = waiter.join().unwrap();
            assert!(!overflow, "got the pooled connection");
            assert!(took < Duration::from_secs(10), "woken after {took:?}");
        });
        assert_eq!(p.overflows.load(Relaxed), 0);
        assert_eq!(p.counts().idle, 1);
    }

    /// A borrower asleep while another's connect fails is woken by the
    /// failure (a slot is free again) and connects, well before its
    /// deadline.
    #[test]
    fn a_failed_connect_wakes_a_sleeping_borrower() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let entered = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (e, r) = (Arc::clone(&entered), Arc::clone(&release));
        let first = AtomicBool::new(true);
        let p = pool_with(
            &dir,
            1,
            Duration::from_secs(30),
            Box::new(move |_| {
                if !first.swap(false, Relaxed) {
                    return Ok(());
                }
                e.store(true, Relaxed);
                while !r.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(crate::Error::Database("refused".into()))
            }),
        );
        let p = &p;
        std::thread::scope(|s| {
            let failing = s.spawn(|| p.get().is_err());
            while !entered.load(Relaxed) {
                std::thread::yield_now();
            }
            let waiter = s.spawn(|| timed_get(p));
            until_a_borrower_waits(p);
            release.store(true, Relaxed);
            assert!(failing.join().unwrap(), "the first connect fails");
            let (took, overflow) = waiter.join().unwrap();
            assert!(!overflow, "got a pooled connection");
            assert!(took < Duration::from_secs(10), "woken after {took:?}");
        });
    }

    /// A thread gets back the connection it used last, even when another
    /// connection was returned after it: the one whose page cache and
    /// statements its core already holds.
    #[test]
    fn a_thread_gets_back_the_connection_it_used_last() {
        let dir = tempfile::tempdir().unwrap();
        let p = pool(&dir, 2, OVERFLOW_AFTER);
        let is_mine = |c: &Connection| {
            c.query_row(
                "SELECT count(*) FROM temp.sqlite_master WHERE name = 'mine'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
                == 1
        };
        let (took, give_back) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|s| {
            let other = s.spawn(|| {
                let c = p.get().unwrap();
                took.wait();
                give_back.wait();
                // Returned last, so on top of the idle ones.
                drop(c);
            });
            let c = p.get().unwrap();
            c.execute_batch("CREATE TEMP TABLE mine (x)").unwrap();
            took.wait();
            drop(c);
            give_back.wait();
            other.join().unwrap();
            assert_eq!(p.counts().idle, 2);
            for _ in 0..3 {
                assert!(is_mine(&p.get().unwrap()), "this thread's connection");
            }
        });
    }

    /// With nobody waiting, borrows and returns reuse one connection.
    #[test]
    fn an_idle_pool_reuses_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let p = pool(&dir, 2, OVERFLOW_AFTER);
        for _ in 0..3 {
            let c = p.get().unwrap();
            c.execute_batch("SELECT 1").unwrap();
        }
        assert_eq!(p.counts().idle, 1);
        assert_eq!(p.waits.load(Relaxed), 0);
    }

    /// The counts follow borrows and returns: a borrowed connection is open
    /// and in use, a returned one open and idle; a temporary one is in
    /// neither.
    #[test]
    fn counts_show_borrowed_and_returned_connections() {
        let dir = tempfile::tempdir().unwrap();
        let p = pool(&dir, 2, Duration::from_millis(5));
        let counts = |open, idle| PoolCounts {
            capacity: 2,
            open,
            idle,
        };
        assert_eq!(p.counts(), counts(0, 0));
        let a = p.get().unwrap();
        assert_eq!(p.counts(), counts(1, 0));
        assert_eq!(p.counts().in_use(), 1);
        let b = p.get().unwrap();
        assert_eq!(p.counts(), counts(2, 0));
        assert_eq!(p.counts().in_use(), 2);
        let extra = p.get().unwrap();
        assert!(extra.overflow);
        assert_eq!(p.counts(), counts(2, 0), "a temporary one is not counted");
        drop(extra);
        drop(a);
        assert_eq!(p.counts(), counts(2, 1));
        assert_eq!(p.counts().in_use(), 1);
        drop(b);
        assert_eq!(p.counts(), counts(2, 2));
        assert_eq!(p.counts().in_use(), 0);
        p.clear();
        assert_eq!(p.counts(), counts(0, 0));
    }

    /// A borrower that cannot get a pooled connection in time gets a
    /// temporary one, which is closed rather than pooled on return.
    #[test]
    fn a_wait_that_runs_out_opens_a_temporary_connection() {
        let dir = tempfile::tempdir().unwrap();
        let p = pool(&dir, 1, Duration::from_millis(5));
        let held = p.get().unwrap();
        let extra = p.get().unwrap();
        assert!(extra.overflow);
        drop(extra);
        drop(held);
        assert_eq!(p.overflows.load(Relaxed), 1);
        assert_eq!(p.counts().idle, 1);
    }
}
