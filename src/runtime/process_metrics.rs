//! The standard `process_*` metrics (CPU, memory, file descriptors, threads, start time),
//! read from /proc at each scrape; where there is no /proc they are simply absent.
//!
//! The crates that offer this pin an older prometheus-client, so this is a small collector
//! of our own. The names are the ones Prometheus' client libraries use, unprefixed, so that
//! existing dashboards and alerts find them.

use std::path::{Path, PathBuf};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of the times in /proc/<pid>/stat. The kernel reports them in
/// USER_HZ, which is 100 on every architecture Linux exports to user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads /proc on each scrape; registered on the root registry so the names stay unprefixed.
#[derive(Debug)]
pub struct ProcessCollector {
    proc: PathBuf,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::at("/proc")
    }
}

impl ProcessCollector {
    fn at(proc: impl Into<PathBuf>) -> Self {
        Self { proc: proc.into() }
    }

    /// What can be read now; each value is absent when its source is missing or unreadable.
    fn sample(&self) -> Sample {
        let read = |path: &str| std::fs::read_to_string(self.proc.join(path)).ok();
        let stat = read("self/stat").and_then(|text| parse_stat(&text));
        let status = read("self/status").map(|text| parse_status(&text));
        let boot_time = read("stat").and_then(|text| parse_boot_time(&text));
        Sample {
            cpu_seconds: stat.map(|s| s.utime.saturating_add(s.stime) as f64 / TICKS_PER_SECOND),
            start_time_seconds: stat
                .zip(boot_time)
                .map(|(s, boot)| boot as f64 + s.start_ticks as f64 / TICKS_PER_SECOND),
            resident_bytes: status.and_then(|s| s.resident_bytes),
            virtual_bytes: status.and_then(|s| s.virtual_bytes),
            threads: status.and_then(|s| s.threads),
            open_fds: count_entries(&self.proc.join("self/fd")),
            max_fds: read("self/limits").and_then(|text| parse_max_fds(&text)),
        }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sample = self.sample();
        if let Some(seconds) = sample.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                counter.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                sample.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                sample.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                sample.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit)",
                sample.max_fds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                sample.threads,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        if let Some(seconds) = sample.start_time_seconds {
            let gauge = ConstGauge::new(seconds);
            gauge.encode(encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                None,
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: Option<f64>,
    start_time_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    threads: Option<u64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
}

/// The fields of /proc/<pid>/stat this collector uses, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    /// Since boot.
    start_ticks: u64,
}

/// Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        start_ticks: field(22)?,
    })
}

/// The fields of /proc/<pid>/status this collector uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Status {
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    threads: Option<u64>,
}

/// Parses /proc/<pid>/status (`VmRSS:    1234 kB`, `Threads:  5`). A kernel thread has no
/// Vm* lines; those values are then absent.
fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let mut words = value.split_whitespace();
        let number = words.next().and_then(|n| n.parse::<u64>().ok());
        let bytes = match words.next() {
            Some("kB") => number.and_then(|n| n.checked_mul(1024)),
            _ => None,
        };
        match key {
            "VmRSS" => status.resident_bytes = bytes,
            "VmSize" => status.virtual_bytes = bytes,
            "Threads" => status.threads = number,
            _ => {}
        }
    }
    status
}

/// The boot time, in seconds since the epoch, from the `btime` line of /proc/stat.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// The soft limit of "Max open files" in /proc/<pid>/limits; absent when unlimited.
fn parse_max_fds(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|columns| columns.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

/// Entries of a directory (each one an open descriptor in /proc/<pid>/fd).
fn count_entries(dir: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(dir).ok()?;
    u64::try_from(entries.count()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    const STAT: &str = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1523 0 0 0 \
        250 75 0 0 20 0 9 0 123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17922 0 0 0 17 3 0 0 0 0 0\n";

    #[test]
    /// A command name with spaces and parentheses does not shift the fields after it.
    fn stat_is_read_after_the_last_parenthesis() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                utime: 250,
                stime: 75,
                start_ticks: 123456
            })
        );
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    /// Memory comes in kB and is exported in bytes; Threads is a plain count.
    fn status_fields() {
        let text = "Name:\tssm-contacts\nVmPeak:\t  999 kB\nVmSize:\t  204800 kB\n\
            VmRSS:\t   10240 kB\nThreads:\t7\nSigQ:\t0/63459\n";
        assert_eq!(
            parse_status(text),
            Status {
                resident_bytes: Some(10_485_760),
                virtual_bytes: Some(209_715_200),
                threads: Some(7),
            }
        );
        // A kernel thread's status has no Vm* lines.
        assert_eq!(
            parse_status("Name:\tkthreadd\nThreads:\t1\n"),
            Status {
                threads: Some(1),
                ..Status::default()
            }
        );
    }

    #[test]
    /// Boot time and the soft descriptor limit; "unlimited" exports nothing.
    fn boot_time_and_limits() {
        let stat = "cpu  1 2 3\nintr 5\nctxt 9\nbtime 1700000000\nprocesses 10\n";
        assert_eq!(parse_boot_time(stat), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
            Max processes             63459                63459                processes \n\
            Max open files            1024                 1048576              files     \n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_fds(unlimited), None);
    }

    fn encoded(collector: ProcessCollector) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        text
    }

    #[test]
    /// A fake /proc gives every metric, CPU and start time converted from ticks.
    fn collects_from_a_proc_tree() {
        let proc = tempfile::tempdir().expect("tempdir");
        let own = proc.path().join("self");
        std::fs::create_dir_all(own.join("fd")).expect("mkdir");
        for fd in ["0", "1", "2"] {
            std::fs::write(own.join("fd").join(fd), "").expect("write");
        }
        std::fs::write(own.join("stat"), STAT).expect("write");
        std::fs::write(
            own.join("status"),
            "VmSize:\t 2 kB\nVmRSS:\t 1 kB\nThreads:\t3\n",
        )
        .expect("write");
        std::fs::write(own.join("limits"), "Max open files 4096 8192 files\n").expect("write");
        std::fs::write(proc.path().join("stat"), "btime 1000\n").expect("write");
        let text = encoded(ProcessCollector::at(proc.path()));
        for line in [
            "process_cpu_seconds_total 3.25\n",
            "process_resident_memory_bytes 1024\n",
            "process_virtual_memory_bytes 2048\n",
            "process_open_fds 3\n",
            "process_max_fds 4096\n",
            "process_threads 3\n",
            "process_start_time_seconds 2234.56\n",
            "# TYPE process_cpu_seconds counter\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    /// Without /proc (macOS) the collector exports nothing and scraping still works.
    fn no_proc_exports_nothing() {
        let text = encoded(ProcessCollector::at("/nonexistent/proc"));
        assert!(!text.contains("process_"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    /// On Linux the real /proc gives a live process's numbers.
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let sample = ProcessCollector::default().sample();
        assert!(sample.resident_bytes.is_some_and(|b| b > 0), "{sample:?}");
        assert!(sample.open_fds.is_some_and(|n| n > 0), "{sample:?}");
        assert!(sample.threads.is_some_and(|n| n > 0), "{sample:?}");
        assert!(
            sample.start_time_seconds.is_some_and(|s| s > 1e9),
            "{sample:?}"
        );
    }
}
