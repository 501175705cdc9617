//! Logging (tracing, pretty or JSON) and the Prometheus recorder.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once (later calls are no-ops, so tests may
/// build many apps in one process).
pub fn init_logging(format: &str, level: &str) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // s3s logs every refused S3 request (a client error) at ERROR under
        // `s3s::ops`; those answers are S3 XML errors and counted in the
        // metrics, so that target is off unless the filter names it. The AWS
        // SDK warns on every multipart object whose part checksums it cannot
        // validate (upstream buckets); that is expected.
        let level = if level.contains("s3s") {
            level.to_owned()
        } else {
            format!("{level},s3s::ops=off,aws_sdk_s3::http_response_checksum=error")
        };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&level));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = if format == "json" {
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .try_init()
        } else {
            builder.try_init()
        };
    });
}

/// The process-wide Prometheus recorder and its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            let h = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        h.run_upkeep();
                    }
                })
                .ok();
            handle
        })
        .clone()
}

/// CPU seconds (user + system) a process has used so far, read from
/// `/proc/<pid>/stat` (`"self"` for this process); 0 where there is no
/// `/proc`. For the benchmark tools.
pub fn process_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces and parentheses: fields count from
    // the last ')'. utime and stime (fields 14, 15) are then at 11 and 12.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / CLOCK_TICKS
}

/// CPU seconds every core of the machine has spent busy (not idle, not
/// waiting for I/O, not stolen by the hypervisor) so far, from
/// `/proc/stat`; 0 where there is none.
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already counted in user).
    let busy: f64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    busy / CLOCK_TICKS
}

/// `USER_HZ`: Linux reports `/proc` times in 1/100 s on every architecture
/// it runs on.
const CLOCK_TICKS: f64 = 100.0;

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_readers_see_work() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let (p0, m0) = (
            super::process_cpu_seconds("self"),
            super::machine_busy_seconds(),
        );
        assert!(p0 > 0.0 || m0 > 0.0, "the readers parse /proc");
        // Spin until both counters move (a tick is 10 ms of CPU); the cap
        // only ends a broken reader's test.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while (super::process_cpu_seconds("self") <= p0 || super::machine_busy_seconds() <= m0)
            && t.elapsed() < std::time::Duration::from_secs(120)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        assert!(super::process_cpu_seconds("self") > p0);
        assert!(super::machine_busy_seconds() > m0);
    }
}
