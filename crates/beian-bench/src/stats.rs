//! Percentiles, scenario results, targets, and the report (table and JSON).

use serde::Serialize;

/// Nearest-rank percentile (`p` in 0..=100) of sorted latencies; `None` when empty.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `value / floor`, when both are measured and the floor is not zero.
pub fn ratio(value: Option<f64>, floor: Option<f64>) -> Option<f64> {
    match (value, floor) {
        (Some(v), Some(f)) if f > 0.0 && v.is_finite() && f.is_finite() => Some(v / f),
        _ => None,
    }
}

/// Latencies (microseconds) and outcome counts of one load run.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub ok: u64,
    pub errors: u64,
    pub secs: f64,
    pub latencies_us: Vec<u32>,
}

impl Sample {
    pub fn throughput(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }

    /// p50 and p99 in milliseconds.
    pub fn p50_p99_ms(&mut self) -> (Option<f64>, Option<f64>) {
        self.latencies_us.sort_unstable();
        let ms = |v: Option<u32>| v.map(|us| f64::from(us) / 1000.0);
        (ms(percentile(&self.latencies_us, 50.0)), ms(percentile(&self.latencies_us, 99.0)))
    }
}

/// Pass, miss, or not judged (skipped, or no target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Miss,
    Skip,
}

impl Verdict {
    pub fn of(pass: bool) -> Verdict {
        if pass {
            Verdict::Pass
        } else {
            Verdict::Miss
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Miss => "MISS",
            Verdict::Skip => "-",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    /// Successful operations (requests answered as expected, rows, mini programs swept).
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    /// Operations per second.
    pub throughput: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Peak RSS of the server (or of the process doing the work, for the sweep), MB.
    pub peak_rss_mb: Option<f64>,
    /// CPU milliseconds per operation of the process doing the work (the server for HTTP
    /// scenarios): less sensitive than throughput to other load on the machine.
    pub cpu_ms_per_op: Option<f64>,
    /// What the scenario is compared with, and its throughput in the same run.
    pub floor: Option<String>,
    pub floor_throughput: Option<f64>,
    /// `throughput / floor_throughput`.
    pub ratio: Option<f64>,
    /// Read scenarios: p99 of the closed-loop (saturation) run; `p99_ms` is the paced run's.
    pub saturation_p99_ms: Option<f64>,
    pub target: String,
    pub verdict: Verdict,
    /// How far from the target, and anything a reader must know.
    pub note: String,
}

impl Scenario {
    pub fn new(name: &str, target: &str) -> Scenario {
        Scenario {
            name: name.into(),
            ops: 0,
            errors: 0,
            secs: 0.0,
            throughput: None,
            p50_ms: None,
            p99_ms: None,
            peak_rss_mb: None,
            cpu_ms_per_op: None,
            floor: None,
            floor_throughput: None,
            ratio: None,
            saturation_p99_ms: None,
            target: target.into(),
            verdict: Verdict::Skip,
            note: String::new(),
        }
    }

    /// Fill throughput and latencies from a load sample.
    pub fn with_sample(mut self, s: &mut Sample) -> Scenario {
        let (p50, p99) = s.p50_p99_ms();
        self.ops = s.ok;
        self.errors = s.errors;
        self.secs = s.secs;
        self.throughput = Some(s.throughput());
        self.p50_ms = p50;
        self.p99_ms = p99;
        self
    }

    pub fn with_floor(mut self, name: &str, floor_throughput: Option<f64>) -> Scenario {
        self.floor = Some(name.into());
        self.floor_throughput = floor_throughput;
        self.ratio = ratio(self.throughput, floor_throughput);
        self
    }

    /// Record what the server (or worker) process used: peak RSS and CPU per operation.
    pub fn with_usage(mut self, peak_rss_mb: f64, cpu_secs: f64) -> Scenario {
        self.peak_rss_mb = Some(peak_rss_mb);
        if self.ops > 0 && cpu_secs > 0.0 {
            self.cpu_ms_per_op = Some(cpu_secs * 1000.0 / self.ops as f64);
        }
        self
    }

    pub fn note(&mut self, text: impl AsRef<str>) {
        if !self.note.is_empty() {
            self.note.push_str("; ");
        }
        self.note.push_str(text.as_ref());
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: String,
    pub backend: String,
    pub n: u64,
    pub quick: bool,
    pub started_at: String,
    pub machine: String,
    pub scenarios: Vec<Scenario>,
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".into(),
    }
}

/// The report as a Markdown table (readable in a terminal too).
pub fn render_table(r: &Report) -> String {
    let header: [&str; 14] = [
        "scenario",
        "ops",
        "err",
        "secs",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "peak RSS MB",
        "CPU ms/op",
        "floor",
        "floor ops/s",
        "ratio",
        "target",
        "result",
    ];
    let rows: Vec<[String; 14]> = r
        .scenarios
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.ops.to_string(),
                s.errors.to_string(),
                format!("{:.1}", s.secs),
                num(s.throughput, 0),
                num(s.p50_ms, 2),
                num(s.p99_ms, 2),
                num(s.peak_rss_mb, 0),
                num(s.cpu_ms_per_op, 3),
                s.floor.clone().unwrap_or_else(|| "-".into()),
                num(s.floor_throughput, 0),
                s.ratio.map(|v| format!("{:.0} %", v * 100.0)).unwrap_or_else(|| "-".into()),
                s.target.clone(),
                s.verdict.label().to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.to_vec()));
    }
    let notes: Vec<String> = r
        .scenarios
        .iter()
        .filter(|s| !s.note.is_empty())
        .map(|s| format!("- **{}**: {}\n", s.name, s.note))
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        let v = [10, 20, 30, 40];
        assert_eq!(percentile(&v, 50.0), Some(20));
        assert_eq!(percentile(&v, 51.0), Some(30));
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(50.0), Some(200.0)), Some(0.25));
        assert_eq!(ratio(Some(50.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
    }

    #[test]
    fn sample_summary() {
        let mut s = Sample { ok: 300, errors: 2, secs: 3.0, latencies_us: vec![3000, 1000, 2000] };
        assert_eq!(s.throughput(), 100.0);
        let (p50, p99) = s.p50_p99_ms();
        assert_eq!(p50, Some(2.0));
        assert_eq!(p99, Some(3.0));
        let sc = Scenario::new("x", "t").with_sample(&mut s).with_floor("f", Some(400.0));
        assert_eq!(sc.ratio, Some(0.25));
        assert_eq!(Sample::default().throughput(), 0.0);
    }

    #[test]
    fn table_has_every_row_and_notes() {
        let mut a = Scenario::new("entrance info", "≥ 50 %");
        a.throughput = Some(1234.6);
        a.p99_ms = Some(4.25);
        a.ratio = Some(0.5);
        a.verdict = Verdict::Pass;
        let mut b = Scenario::new("public query", "p99 ≤ 20 ms");
        b.note("endpoint missing");
        let r = Report {
            command: "scripts/bench --quick".into(),
            backend: "sqlite".into(),
            n: 10,
            quick: true,
            started_at: "now".into(),
            machine: "test".into(),
            scenarios: vec![a, b],
        };
        let t = render_table(&r);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("| scenario"));
        assert!(lines[1].starts_with("| ---"));
        assert!(lines[2].contains("1235") && lines[2].contains("4.25") && lines[2].contains("50 %"));
        assert!(lines[2].contains("pass"));
        assert!(lines[3].contains("public query") && lines[3].trim_end_matches([' ', '|']).ends_with("| -"));
        assert!(t.contains("- **public query**: endpoint missing"));
        // Every line has one cell per header cell, and the same width in characters.
        let cells = |l: &str| l.matches(" | ").count();
        assert!(lines[..4].iter().all(|l| cells(l) == cells(lines[0])));
        let w = lines[0].chars().count();
        assert!(lines[..4].iter().all(|l| l.chars().count() == w));
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["scenarios"][0]["verdict"], "pass");
        assert_eq!(json["scenarios"][1]["verdict"], "skip");
    }
}
