//! What is measured: message types and sizes, rates, fan-out, take mode,
//! publisher (rcl or native), and the two plans (`--quick`, `--full`).

use serde::Serialize;

/// One message type at one size, and the `rcl_bench` arguments that make it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MsgSpec {
    pub key: &'static str,
    pub label: &'static str,
    /// Bytes of the bulk payload (string data, image/cloud data, scan arrays).
    pub bytes: usize,
    #[serde(skip)]
    pub args: &'static [&'static str],
}

pub const MSGS: &[MsgSpec] = &[
    MsgSpec {
        key: "str64",
        label: "String 64 B",
        bytes: 64,
        args: &["--msg", "string", "--bytes", "64"],
    },
    MsgSpec {
        key: "img1k",
        label: "Image 1 KB",
        bytes: 1024,
        args: &[
            "--msg",
            "image",
            "--width",
            "32",
            "--height",
            "32",
            "--channels",
            "1",
        ],
    },
    MsgSpec {
        key: "scan1440",
        label: "LaserScan 1440",
        bytes: 1440 * 8,
        args: &["--msg", "laserscan", "--rays", "1440"],
    },
    MsgSpec {
        key: "img64k",
        label: "Image 64 KB",
        bytes: 65536,
        args: &[
            "--msg",
            "image",
            "--width",
            "256",
            "--height",
            "256",
            "--channels",
            "1",
        ],
    },
    MsgSpec {
        key: "img1m",
        label: "Image 1 MB",
        bytes: 1 << 20,
        args: &[
            "--msg",
            "image",
            "--width",
            "1024",
            "--height",
            "1024",
            "--channels",
            "1",
        ],
    },
    MsgSpec {
        key: "pcl100k",
        label: "PointCloud2 100k",
        bytes: 100_000 * 16,
        args: &["--msg", "pointcloud2", "--points", "100000"],
    },
    MsgSpec {
        key: "pcl1m",
        label: "PointCloud2 1M",
        bytes: 1_000_000 * 16,
        args: &["--msg", "pointcloud2", "--points", "1000000"],
    },
    MsgSpec {
        key: "img1080",
        label: "Image 1080p rgb8",
        bytes: 1920 * 1080 * 3,
        args: &[
            "--msg",
            "image",
            "--width",
            "1920",
            "--height",
            "1080",
            "--channels",
            "3",
        ],
    },
    MsgSpec {
        key: "img4k",
        label: "Image 4K rgb8",
        bytes: 3840 * 2160 * 3,
        args: &[
            "--msg",
            "image",
            "--width",
            "3840",
            "--height",
            "2160",
            "--channels",
            "3",
        ],
    },
];

pub fn msg(key: &str) -> &'static MsgSpec {
    MSGS.iter()
        .find(|m| m.key == key)
        .unwrap_or_else(|| panic!("unknown message key {key}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Take {
    Copy,
    Loan,
}

impl Take {
    pub fn as_str(self) -> &'static str {
        match self {
            Take::Copy => "copy",
            Take::Loan => "loan",
        }
    }
}

/// Who publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pub {
    /// `rcl_bench --role pub`: rcl_publish of a C message (on every rmw).
    #[default]
    Rcl,
    /// `native_pub`: renoir_core::wire, the payload written in place in a
    /// shared-memory slot, zero copies (only against rmw_renoir subscribers).
    Native,
}

/// One benchmark configuration (run once per rmw and repeat).
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub msg: MsgSpec,
    /// Publish rate in Hz; `None` = as fast as possible.
    pub rate_hz: Option<f64>,
    pub subs: usize,
    pub take: Take,
    /// Measured messages (upper bound when `duration_s` is set).
    pub count: u64,
    pub warmup: u64,
    /// Upper bound on measured publishing time (0 = none).
    pub duration_s: f64,
    pub publisher: Pub,
}

impl Config {
    pub fn key(&self) -> String {
        format!(
            "{}_{}_{}sub_{}{}",
            self.msg.key,
            self.rate_label(),
            self.subs,
            self.take.as_str(),
            self.pub_suffix()
        )
    }

    /// "" for the rcl publisher, "_native" for the native one.
    pub fn pub_suffix(&self) -> &'static str {
        match self.publisher {
            Pub::Rcl => "",
            Pub::Native => "_native",
        }
    }

    /// Whether this configuration runs on `rmw`: the native publisher speaks
    /// only rmw_renoir's shared memory.
    pub fn runs_on(&self, rmw: &str) -> bool {
        self.publisher == Pub::Rcl || rmw == crate::report::RENOIR
    }

    pub fn rate_label(&self) -> String {
        match self.rate_hz {
            Some(r) => format!("{r}hz"),
            None => "max".to_owned(),
        }
    }

    pub fn label(&self) -> String {
        format!(
            "{} {} {}sub {}",
            self.msg.label,
            match self.rate_hz {
                Some(r) => format!("{r}Hz"),
                None => "max".to_owned(),
            },
            self.subs,
            self.take.as_str()
        ) + if self.publisher == Pub::Native {
            " native pub"
        } else {
            ""
        }
    }

    /// Expected measured publishing time, seconds.
    pub fn publish_s(&self) -> f64 {
        match self.rate_hz {
            Some(r) => self.warmup as f64 / r + self.duration_s,
            None => self.duration_s + 2.0,
        }
    }

    /// Global deadline handed to every process, seconds (discovery, warm-up,
    /// measurement, end marker, linger, slack).
    pub fn timeout_s(&self) -> f64 {
        let big = (self.msg.bytes as f64 / 1e6) * self.subs as f64 * 0.05;
        (15.0 + self.publish_s() * 1.5 + 8.0 + big).ceil()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Quick,
    Full,
}

fn paced(m: &str, subs: usize, take: Take, count: u64) -> Config {
    let rate = 30.0;
    Config {
        msg: *msg(m),
        rate_hz: Some(rate),
        subs,
        take,
        count,
        warmup: 10,
        // An rmw that cannot keep the rate sends fewer messages instead of
        // running into the deadline (msg/s then shows it).
        duration_s: count as f64 / rate * 1.5 + 1.0,
        publisher: Pub::Rcl,
    }
}

fn native(mut c: Config) -> Config {
    c.publisher = Pub::Native;
    c
}

fn flat_out(m: &str, subs: usize, take: Take, duration_s: f64) -> Config {
    let spec = *msg(m);
    // Small messages can go at tens of thousands per second; the count only
    // bounds the arrays, the duration ends the run.
    let count = if spec.bytes <= 65536 { 200_000 } else { 20_000 };
    Config {
        msg: spec,
        rate_hz: None,
        subs,
        take,
        count,
        warmup: 20,
        duration_s,
        publisher: Pub::Rcl,
    }
}

/// The sizes of the latency sweep (30 Hz, 1 subscriber, copy and loaned
/// take): the payloads the project reports against (1 KB to 25 MB), plus 64 B
/// and 1 MB to fill the curve.
pub const SWEEP: &[&str] = &[
    "str64", "img1k", "scan1440", "img64k", "img1m", "pcl100k", "pcl1m", "img1080", "img4k",
];

/// The sizes the native publisher writes (renoir_core::wire has Image,
/// PointCloud2 and LaserScan; 1 KB and 64 KB are Images): the sweep without
/// the 64 B std_msgs/String.
pub const NATIVE_SWEEP: &[&str] = &[
    "img1k", "scan1440", "img64k", "img1m", "pcl100k", "pcl1m", "img1080", "img4k",
];

/// The plan. Quick: a 30 Hz latency sweep over every size with 1 subscriber,
/// copy take and loaned take, flat-out throughput at four sizes, and
/// 4-subscriber fan-out of the 1080p image. Full: every size x {30 Hz, max}
/// x {1, 4} subscribers x {copy, loan}. Both add the native publisher
/// (30 Hz, 1 subscriber, loaned and copy take) over `NATIVE_SWEEP`.
pub fn plan(mode: Mode) -> Vec<Config> {
    let mut v = Vec::new();
    match mode {
        Mode::Quick => {
            for take in [Take::Copy, Take::Loan] {
                for m in SWEEP {
                    let count = if msg(m).bytes > 10_000_000 { 30 } else { 45 };
                    v.push(paced(m, 1, take, count));
                }
            }
            for m in ["str64", "img64k", "img1m", "img1080"] {
                v.push(flat_out(m, 1, Take::Copy, 1.5));
            }
            v.push(paced("img1080", 4, Take::Copy, 45));
            for take in [Take::Loan, Take::Copy] {
                for m in NATIVE_SWEEP {
                    let count = if msg(m).bytes > 10_000_000 { 30 } else { 45 };
                    v.push(native(paced(m, 1, take, count)));
                }
            }
        }
        Mode::Full => {
            for take in [Take::Copy, Take::Loan] {
                for subs in [1, 4] {
                    for m in MSGS {
                        v.push(paced(m.key, subs, take, 300));
                        v.push(flat_out(m.key, subs, take, 5.0));
                    }
                }
                for m in NATIVE_SWEEP {
                    v.push(native(paced(m, 1, take, 300)));
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_have_unique_keys_and_bounded_timeouts() {
        for mode in [Mode::Quick, Mode::Full] {
            let p = plan(mode);
            let mut keys: Vec<String> = p.iter().map(Config::key).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), p.len());
            for c in &p {
                assert!(c.timeout_s() > c.publish_s());
                assert!(c.timeout_s() < 300.0, "{} {}", c.key(), c.timeout_s());
            }
        }
    }

    #[test]
    fn sizes_match_the_brief() {
        assert_eq!(msg("img1080").bytes, 6_220_800);
        assert_eq!(msg("img4k").bytes, 24_883_200);
        assert_eq!(msg("pcl100k").bytes, 1_600_000);
        assert_eq!(msg("pcl1m").bytes, 16_000_000);
        assert_eq!(msg("img1k").bytes, 1024);
        assert_eq!(msg("img64k").bytes, 65536);
        assert_eq!(msg("scan1440").bytes, 1440 * 8);
    }

    #[test]
    fn quick_sweeps_every_reported_size_with_both_takes() {
        let p = plan(Mode::Quick);
        for m in SWEEP {
            for take in ["copy", "loan"] {
                let key = format!("{m}_30hz_1sub_{take}");
                assert!(p.iter().any(|c| c.key() == key), "missing {key}");
            }
        }
    }

    #[test]
    fn native_series_covers_the_wire_types_on_rmw_renoir_only() {
        let p = plan(Mode::Quick);
        for m in NATIVE_SWEEP {
            assert!(matches!(
                msg(m).args[1],
                "image" | "pointcloud2" | "laserscan"
            ));
            for take in ["copy", "loan"] {
                let key = format!("{m}_30hz_1sub_{take}_native");
                let c = p.iter().find(|c| c.key() == key);
                let c = c.unwrap_or_else(|| panic!("missing {key}"));
                assert_eq!(c.publisher, Pub::Native);
                assert!(c.runs_on(crate::report::RENOIR));
                assert!(!c.runs_on(crate::report::PEER));
                assert!(c.label().ends_with("native pub"), "{}", c.label());
            }
        }
        assert!(!p.iter().any(|c| c.key() == "str64_30hz_1sub_loan_native"));
        // The rcl configurations keep their keys (older results.json replot).
        assert!(p.iter().any(|c| c.key() == "img1k_30hz_1sub_loan"));
    }
}
