//! Measuring: latency samples and their percentiles, resident memory from `/proc`.

use serde::Serialize;
use std::time::Duration;

/// Latency samples of one operation, in nanoseconds.
#[derive(Default, Clone, Debug)]
pub struct Samples(Vec<u64>);

impl Samples {
    /// Records one sample.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Takes in another set of samples.
    pub fn merge(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Percentiles (nearest rank) in microseconds.
    pub fn summary(&mut self) -> Latency {
        self.0.sort_unstable();
        let at = |q: f64| -> f64 {
            if self.0.is_empty() {
                return 0.0;
            }
            let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
            self.0.get(rank - 1).copied().unwrap_or(0) as f64 / 1000.0
        };
        let mean =
            if self.0.is_empty() { 0.0 } else { self.0.iter().sum::<u64>() as f64 / self.0.len() as f64 / 1000.0 };
        Latency {
            count: self.0.len() as u64,
            mean_us: round(mean),
            p50_us: round(at(0.50)),
            p90_us: round(at(0.90)),
            p99_us: round(at(0.99)),
            p999_us: round(at(0.999)),
            max_us: round(at(1.0)),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Latency percentiles of one operation.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Memory {
    /// Resident set now (VmRSS), bytes.
    pub rss_bytes: u64,
    /// Peak resident set (VmHWM), bytes.
    pub hwm_bytes: u64,
}

/// Reads VmRSS and VmHWM of `pid` (`None`: this process).
pub fn memory(pid: Option<u32>) -> Memory {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    Memory { rss_bytes: field("VmRSS:"), hwm_bytes: field("VmHWM:") }
}

/// Bytes under a directory (a data directory's size on disk, by file length).
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut s = Samples::default();
        for us in 1..=100 {
            s.push(Duration::from_micros(us));
        }
        let l = s.summary();
        assert_eq!((l.p50_us, l.p99_us, l.max_us), (50.0, 99.0, 100.0));
    }

    #[test]
    fn this_process_has_resident_memory() {
        let m = memory(None);
        assert!(m.rss_bytes > 0 && m.hwm_bytes >= m.rss_bytes);
    }
}
