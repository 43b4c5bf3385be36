//! The fuzz targets on stable, in CI: every committed seed (`fuzz/corpus/<target>/`, which
//! also holds the inputs of fixed findings, named `regression-*`), then random mutations of
//! them — `BEIAN_FUZZ_ITERATIONS` per target (default 10,000), seeded by `BEIAN_FUZZ_SEED`
//! (default: a new seed, printed, so a failure can be replayed). Coverage-guided fuzzing is
//! `scripts/fuzz` (nightly); this keeps its targets and findings from regressing.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read seed")))
        .collect();
    out.sort();
    assert!(out.len() >= 3, "{target}: the committed corpus has {} seeds", out.len());
    out
}

/// Tokens the mutator splices in: the syntax of the three input kinds and field names.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"null",
    b"\"null\"",
    b"\"\"",
    b"0",
    b"-1",
    b"4294967296",
    b"1e999",
    b"\\u0000",
    b"\\ud800",
    b"\"icp_subject\"",
    b"\"icp_applets\"",
    b"\"principal_info\"",
    b"\"base_info\"",
    b"\"certificate_type\"",
    b"\"nrlx_details\"",
    b"\"m_front\"",
    b"\"task_ok\"",
    b"\r\n",
    b"\r\n--BEIANFUZZ\r\n",
    b"--BEIANFUZZ--",
    b"Content-Disposition: form-data; name=\"media\"; filename=\"../x\"\r\n",
    b"Content-Type: multipart/form-data; boundary=",
    b"\xFF\xD8\xFF",
    b"\x89PNG\r\n\x1a\n",
    b"ftyp",
    b"<![CDATA[",
    b"]]>",
    b"</",
    b"<xml>",
    b"</xml>",
    b"<Encrypt>",
    b"&amp;",
    b"&lt;",
    b"\xE5\xA4\x87",
    b"\xC0\x80",
];

fn mutate(rng: &mut StdRng, base: &[u8], others: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = v.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = rng.gen();
            }
            2 => {
                let i = rng.gen_range(0..=len);
                let t = TOKENS[rng.gen_range(0..TOKENS.len())];
                v.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..=16)).min(len);
                v.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..=64)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.gen_range(0..=len);
                for _ in 0..rng.gen_range(1..=8) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            5 => {
                let (_, other) = &others[rng.gen_range(0..others.len())];
                let cut = rng.gen_range(0..=len);
                let from = rng.gen_range(0..=other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => v.truncate(rng.gen_range(0..len)),
            _ => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                v.splice(i..i, bytes);
            }
        }
    }
    v
}

/// Run one input; on a panic, save it where `cargo fuzz run <target> <file>` can replay it.
fn run_one(target: &str, f: beian_fuzz::Target, input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{target}-{}", std::process::id()));
        let _ = std::fs::write(&file, input);
        panic!(
            "{target} failed on {what} (saved to {}): {:?}",
            file.display(),
            String::from_utf8_lossy(&input[..input.len().min(2000)])
        );
    }
}

#[test]
fn fuzz_targets_hold_on_seeds_and_mutations() {
    let iterations: usize =
        std::env::var("BEIAN_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let seed: u64 = std::env::var("BEIAN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("fuzz targets: {iterations} mutations per target, BEIAN_FUZZ_SEED={seed}");
    for (target, f) in beian_fuzz::TARGETS {
        let started = std::time::Instant::now();
        let seeds = seeds(target);
        for (name, input) in &seeds {
            run_one(target, *f, input, &format!("seed {name}"));
        }
        let mut rng = StdRng::seed_from_u64(seed ^ target.len() as u64);
        for i in 0..iterations {
            let (_, base) = &seeds[rng.gen_range(0..seeds.len())];
            let input = mutate(&mut rng, base, &seeds);
            run_one(target, *f, &input, &format!("mutation {i} (BEIAN_FUZZ_SEED={seed})"));
        }
        eprintln!("{target}: {} seeds + {iterations} mutations in {:.1?}", seeds.len(), started.elapsed());
    }
}

/// The seeds that are valid inputs stay valid: a target that refused everything would
/// "pass" while testing nothing.
#[test]
fn valid_seeds_are_accepted() {
    let personal = std::fs::read(corpus_dir("apply_payload").join("personal.json")).expect("seed");
    let p = beian_api::parse::apply_body(&personal).unwrap_or_else(|e| panic!("{}", e.0));
    assert_eq!(beian_fuzz::check_apply_fixture(&p), Ok(()), "the personal seed passes every rule");

    let jpeg = std::fs::read(corpus_dir("multipart_upload").join("jpeg-front")).expect("seed");
    let req = axum::http::Request::post("/wxa/icp/upload_icp_media")
        .header("content-type", format!("multipart/form-data; boundary={}", beian_fuzz::BOUNDARY))
        .body(axum::body::Body::from(jpeg))
        .expect("request");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    let up = rt.block_on(beian_api::parse::upload(None, req)).unwrap_or_else(|e| panic!("{}", e.0));
    let dict = beian_core::dict::Dictionaries::builtin();
    let (ct, _) = beian_service::media::check_upload(&up, &dict).expect("a valid upload");
    assert_eq!((ct, up.certificate_type), ("image/jpeg", Some(2)));
    let event = std::fs::read(corpus_dir("authority_event").join("approved.json")).expect("seed");
    beian_authority_bridge::protocol::parse_event(&event).expect("a valid event");
    let year = std::fs::read_to_string(corpus_dir("calendar_year").join("2026.json")).expect("seed");
    beian_core::calendar::HolidayYear::parse_json(&year, Some(2026)).expect("a valid year");
    let table = std::fs::read_to_string(corpus_dir("rule_table").join("three-rows.json")).expect("seed");
    beian_core::rule_table::RuleTable::from_json(&table, &dict, 2).expect("a valid table");
    for seed in ["upserted.json", "admin-changed.json", "listed.json"] {
        let body = std::fs::read(corpus_dir("platform_event").join(seed)).expect("seed");
        serde_json::from_slice::<beian_ports::host::EventRequest>(&body)
            .unwrap_or_else(|e| panic!("{seed}: {e}"));
    }
    let list = std::fs::read(corpus_dir("platform_event").join("reconcile.json")).expect("seed");
    serde_json::from_slice::<beian_ports::host::ReconcileRequest>(&list).expect("a valid list");
}
