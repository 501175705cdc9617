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
