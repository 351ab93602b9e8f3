//! Runs one workload on N threads for a fixed time and measures it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::corpus::Rng;

/// What one worker thread reports: operations done and sampled latencies (ns).
type ThreadResult = Result<(u64, Vec<u32>), String>;

/// Throughput and latency of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Operations, all threads.
    pub ops: u64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 95th percentile, µs.
    pub p95_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
}

/// Runs `op` on `threads` threads for `duration`. `make` builds each
/// thread's state (connections, generators) outside the timed section.
/// Latency is measured on one operation in `sample_every` (clock reads
/// would otherwise cost as much as a cached read).
pub(crate) fn run<S, M, F>(
    threads: usize,
    duration: Duration,
    sample_every: u64,
    make: M,
    op: F,
) -> Result<Measurement, String>
where
    M: Fn(usize) -> S + Sync,
    F: Fn(&mut S, &mut Rng) -> Result<(), String> + Sync,
{
    let threads = threads.max(1);
    let sample_every = sample_every.max(1);
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    let (results, elapsed): (Vec<ThreadResult>, Duration) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, barrier, make, op) = (&stop, &barrier, &make, &op);
                scope.spawn(move || {
                    let mut state = make(t);
                    let mut rng = Rng::new(0xBE0C + t as u64);
                    let mut lat = Vec::with_capacity(1 << 16);
                    let mut n: u64 = 0;
                    barrier.wait();
                    let mut err = None;
                    while !stop.load(Ordering::Relaxed) {
                        if n.is_multiple_of(sample_every) {
                            let t0 = Instant::now();
                            if let Err(e) = op(&mut state, &mut rng) {
                                err = Some(e);
                                break;
                            }
                            lat.push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                        } else if let Err(e) = op(&mut state, &mut rng) {
                            err = Some(e);
                            break;
                        }
                        n += 1;
                    }
                    match err {
                        Some(e) => Err(e),
                        None => Ok((n, lat)),
                    }
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let out = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect();
        // Threads stop within one operation of the flag: count the time
        // they actually ran, including that last operation.
        (out, started.elapsed())
    });
    let mut ops = 0;
    let mut lat = Vec::new();
    for r in results {
        let (n, l) = r?;
        ops += n;
        lat.extend(l);
    }
    lat.sort_unstable();
    let pct = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    Ok(Measurement {
        ops,
        ops_per_sec: ops as f64 / elapsed.as_secs_f64(),
        p50_us: pct(0.50),
        p95_us: pct(0.95),
        p99_us: pct(0.99),
    })
}
