//! Integration tests of beian-core (one test binary per crate).

mod calendar;
mod dict;
mod fuzz;
mod ident;
mod ident_formats;
mod plan;
mod rule_table;
mod rules;
mod state;
mod tidy;

/// Compare `content` with the committed snapshot `tests/it/snapshots/{name}`; with
/// `UPDATE_SNAPSHOTS` set, write it first.
fn assert_snapshot(name: &str, content: &str) {
    let path = format!("{}/tests/it/snapshots/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, content).expect("write snapshot");
    }
    let expected = std::fs::read_to_string(&path).expect("snapshot exists (run with UPDATE_SNAPSHOTS=1)");
    assert_eq!(content, expected, "{name} changed; review the diff and run with UPDATE_SNAPSHOTS=1");
}
