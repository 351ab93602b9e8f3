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

/// Operations, wall time and sampled latencies (ns) of one or more runs.
#[derive(Default)]
struct Tally {
    ops: u64,
    elapsed: Duration,
    lat: Vec<u32>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.lat.extend(other.lat);
    }

    fn measurement(mut self) -> Measurement {
        let lat = &mut self.lat;
        lat.sort_unstable();
        let pct = |q: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
            f64::from(lat[i]) / 1000.0
        };
        Measurement {
            ops: self.ops,
            ops_per_sec: self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p50_us: pct(0.50),
            p95_us: pct(0.95),
            p99_us: pct(0.99),
        }
    }
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
    Ok(run_slice(threads, duration, sample_every, 0, &make, &op)?.measurement())
}

/// Slices a pair is cut into: each side runs this many times, alternating.
const PAIR_SLICES: u32 = 10;

/// Runs two workloads in alternating slices (A, B, A, B, ...) that add up
/// to `duration` each. The machine is shared and its speed drifts over
/// seconds; interleaving puts both sides of a ratio under the same drift,
/// where running them one after the other let ratios move by ±30%.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_pair<SA, MA, FA, SB, MB, FB>(
    threads: usize,
    duration: Duration,
    sample_every: u64,
    make_a: MA,
    op_a: FA,
    make_b: MB,
    op_b: FB,
) -> Result<(Measurement, Measurement), String>
where
    MA: Fn(usize) -> SA + Sync,
    FA: Fn(&mut SA, &mut Rng) -> Result<(), String> + Sync,
    MB: Fn(usize) -> SB + Sync,
    FB: Fn(&mut SB, &mut Rng) -> Result<(), String> + Sync,
{
    let slice = duration / PAIR_SLICES;
    let (mut a, mut b) = (Tally::default(), Tally::default());
    for i in 0..PAIR_SLICES {
        // A new seed per slice, so the slices do not replay the same ids.
        let seed = u64::from(i) * 1000;
        a.add(run_slice(
            threads,
            slice,
            sample_every,
            seed,
            &make_a,
            &op_a,
        )?);
        b.add(run_slice(
            threads,
            slice,
            sample_every,
            seed,
            &make_b,
            &op_b,
        )?);
    }
    Ok((a.measurement(), b.measurement()))
}

fn run_slice<S, M, F>(
    threads: usize,
    duration: Duration,
    sample_every: u64,
    seed: u64,
    make: &M,
    op: &F,
) -> Result<Tally, String>
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
                let (stop, barrier) = (&stop, &barrier);
                scope.spawn(move || {
                    let mut state = make(t);
                    let mut rng = Rng::new(0xBE0C + seed + t as u64);
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
    let mut tally = Tally {
        elapsed,
        ..Tally::default()
    };
    for r in results {
        let (n, l) = r?;
        tally.ops += n;
        tally.lat.extend(l);
    }
    Ok(tally)
}
