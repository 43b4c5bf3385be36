//! Conventions the code must keep: generated docs stay in step, codes stay unique.

use beian_core::errcode::{render_markdown, TABLE};

#[test]
fn errcode_doc_matches_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errcodes.md");
    let table = render_markdown();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &table).expect("write docs/errcodes.md");
    }
    let doc = std::fs::read_to_string(path).expect("docs/errcodes.md exists");
    assert_eq!(doc, table, "docs/errcodes.md is stale: run UPDATE_SNAPSHOTS=1 cargo test -p beian-core");
}

#[test]
fn errcodes_are_unique_and_beian_codes_are_in_869xx() {
    let mut seen = std::collections::HashSet::new();
    for c in TABLE {
        assert!(seen.insert(c.code), "errcode {} appears twice", c.code);
        if c.origin == beian_core::errcode::Origin::Beian {
            assert!((86900..87000).contains(&c.code), "beian extension {} outside 869xx", c.code);
        }
        assert!(!c.errmsg.is_empty());
    }
}
