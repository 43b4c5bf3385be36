//! Conventions the code must keep: generated docs stay in step, codes stay unique, and the
//! absences ARCHITECTURE.md promises (no SQL outside beian-store, a pure core, edges without the
//! store, migrations in step, a `//!` line on every module) hold.

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

// ---- the absences ARCHITECTURE.md promises --------------------------------------------------

/// The repository root.
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `crates/<crate>/src`, as (crate name, path, text).
fn sources() -> Vec<(String, std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let crates = root().join("crates");
    for krate in std::fs::read_dir(&crates).expect("crates/").flatten() {
        let name = krate.file_name().to_string_lossy().to_string();
        let mut stack = vec![krate.path().join("src")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).expect("read source");
                    out.push((name.clone(), p, text));
                }
            }
        }
    }
    assert!(out.len() > 50, "the scan found the sources ({} files)", out.len());
    out
}

/// Lines of `text` outside `#[cfg(test)]` modules (tests may spell out what code must not).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..cut].lines().enumerate().map(|(i, l)| (i + 1, l))
}

/// What SQL looks like in a string literal.
fn looks_like_sql(line: &str) -> bool {
    const STARTS: [&str; 9] = [
        "SELECT ",
        "INSERT INTO",
        "DELETE FROM",
        "CREATE TABLE",
        "CREATE INDEX",
        "ALTER TABLE",
        "DROP TABLE",
        "PRAGMA ",
        "WITH RECURSIVE",
    ];
    line.split('"').skip(1).step_by(2).any(|lit| {
        let t = lit.trim_start();
        STARTS.iter().any(|s| t.starts_with(s))
            || (t.starts_with("UPDATE ") && t.contains(" SET "))
            || lit.contains("sqlx::")
    }) || line.contains("sqlx::query")
}

#[test]
fn no_sql_outside_beian_store() {
    let mut found = Vec::new();
    for (krate, path, text) in sources() {
        if krate == "beian-store" {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if looks_like_sql(line) {
                found.push(format!("{}:{n}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "SQL outside beian-store (it belongs in a Tx method):\n{}", found.join("\n"));
    // The detector itself works.
    assert!(looks_like_sql(r#"let q = "SELECT * FROM media WHERE sha256 = $1";"#));
    assert!(looks_like_sql(r#"x.execute("UPDATE drafts SET row_version = 1")"#));
    assert!(!looks_like_sql(r#"let s = "请选择主体类型";"#));
}

#[test]
fn beian_core_does_no_io_and_reads_no_clock_or_randomness() {
    const FORBIDDEN: [&str; 14] = [
        "SystemTime",
        "Utc::now",
        "Local::now",
        "Instant::now",
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "std::thread",
        "rand::",
        "thread_rng",
        "tokio",
        "reqwest",
        "sqlx",
    ];
    let mut found = Vec::new();
    for (krate, path, text) in sources() {
        if krate != "beian-core" {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for f in FORBIDDEN {
                if line.contains(f) {
                    found.push(format!("{}:{n}: {f}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "beian-core must stay pure (now is a parameter):\n{}", found.join("\n"));
}

#[test]
fn no_edge_depends_on_beian_store() {
    for edge in ["beian-api", "beian-console", "beian-admin", "beian-web"] {
        let manifest =
            std::fs::read_to_string(root().join("crates").join(edge).join("Cargo.toml")).expect("manifest");
        assert!(
            !manifest.contains("beian-store"),
            "{edge} depends on beian-store: edges call only the service"
        );
    }
}

#[test]
fn messaging_senders_and_ports_never_use_the_service() {
    // The senders implement beian-ports' messaging contracts; they may not reach into the
    // use cases (the worker around them does).
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(krate, p, _)| {
            krate == "beian-ports"
                || (krate == "beian-jobs" && p.components().any(|c| c.as_os_str() == "notify"))
        })
        .flat_map(|(_, p, text)| {
            code_lines(&text)
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .filter(|(_, l)| l.contains("beian_service") || l.contains("beian_store"))
                .map(|(n, l)| format!("{}:{n}: {}", p.display(), l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(found.is_empty(), "a seam's implementation uses the service or the store:\n{}", found.join("\n"));
    let manifest = std::fs::read_to_string(root().join("crates/beian-ports/Cargo.toml")).expect("manifest");
    let deps = manifest.split_once("[dependencies]").map(|(_, d)| d).unwrap_or("");
    assert!(
        !deps.contains("beian-service") && !deps.contains("beian-store"),
        "beian-ports is contracts only"
    );
}

#[test]
fn both_migration_dialects_have_the_same_numbered_files() {
    let list = |dialect: &str| -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(root().join("crates/beian-store/migrations").join(dialect))
                .expect("migrations dir")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
        v.sort();
        v
    };
    let (sqlite, postgres) = (list("sqlite"), list("postgres"));
    assert_eq!(sqlite, postgres, "every migration exists for both dialects, under the same name");
    for (i, name) in sqlite.iter().enumerate() {
        assert!(
            name.starts_with(&format!("{:04}_", i + 1)),
            "migrations are numbered 1..N without gaps: {name}"
        );
    }
}

#[test]
fn every_module_says_what_it_is() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(_, _, text)| !text.trim_start().starts_with("//!"))
        .map(|(_, p, _)| p.display().to_string())
        .collect();
    assert!(missing.is_empty(), "modules without a //! line:\n{}", missing.join("\n"));
}

/// A boundary never imports the service: the contracts (`beian-ports`) and every crate that
/// implements one (it depends on beian-ports — the simulator, later real adapters) name
/// neither the `beian-service` crate nor `beian_service` in code. Only the service (which
/// owns the seams), the job worker (which calls them), the binary (which wires them), the
/// test kit (whose authority contract suite drives a platform and the gateway it wired), the
/// browser tests (which run that suite through the staff console) and the fuzz bodies (which
/// feed the service's checks and the boundaries' wire types the same hostile bytes) may use
/// both.
#[test]
fn no_boundary_implementation_imports_beian_service() {
    const MAY_USE_BOTH: [&str; 6] =
        ["beian-service", "beian-jobs", "beian", "beian-testkit", "beian-browser-tests", "beian-fuzz"];
    let manifest = |krate: &str| {
        std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap_or_default()
    };
    let boundaries: Vec<String> = std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|k| k == "beian-ports" || depends_on(&manifest(k), "beian-ports"))
        .filter(|k| !MAY_USE_BOTH.contains(&k.as_str()))
        .collect();
    assert!(
        boundaries.iter().any(|k| k == "beian-authority-sim"),
        "the scan finds the simulator: {boundaries:?}"
    );
    let mut found = Vec::new();
    for krate in &boundaries {
        if depends_on(&manifest(krate), "beian-service") {
            found.push(format!("crates/{krate}/Cargo.toml depends on beian-service"));
        }
    }
    for (krate, path, text) in sources() {
        if boundaries.contains(&krate) && text.contains("beian_service") {
            found.push(format!("{} names beian_service", path.display()));
        }
    }
    assert!(found.is_empty(), "a boundary imports the service:\n{}", found.join("\n"));
    assert!(depends_on("beian-service = { path = \"x\" }\n", "beian-service"));
    assert!(!depends_on("description = \"never on beian-service\"\n", "beian-service"));
}

/// Whether a manifest lists `dep` (a line that starts with its name), not merely mentions it.
fn depends_on(manifest: &str, dep: &str) -> bool {
    manifest.lines().any(|l| {
        l.trim_start().strip_prefix(dep).is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
    })
}

// ---- HTML only through templates ---------------------------------------------------------------

/// The string literals of Rust source outside `#[cfg(test)]`, with their line numbers: plain,
/// raw and byte strings; comments, char literals (`'"'`) and lifetimes are stepped over.
fn string_literals(text: &str) -> Vec<(usize, String)> {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    let b: Vec<char> = text[..cut].chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i += 2;
            while i < b.len() && !(b[i] == '*' && at(i + 1) == '/') {
                line += usize::from(b[i] == '\n');
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 3;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c == '"'
            || (c == 'r' && (at(i + 1) == '"' || at(i + 1) == '#'))
            || (c == 'b' && at(i + 1) == '"')
            || (c == 'b' && at(i + 1) == 'r' && (at(i + 2) == '"' || at(i + 2) == '#'))
        {
            let ident_before = i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_');
            if c != '"' && ident_before {
                i += 1; // `r` or `b` ending an identifier (`for"`, `br"` never occur otherwise)
                continue;
            }
            let mut j = i;
            while b[j] != '"' && b[j] != '#' {
                j += 1;
            }
            let raw = c == 'r' || at(i + 1) == 'r';
            let mut hashes = 0;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                i = j; // `r#ident`
                continue;
            }
            j += 1;
            let (start, start_line) = (j, line);
            loop {
                if j >= b.len() {
                    break;
                }
                if !raw && b[j] == '\\' {
                    line += usize::from(at(j + 1) == '\n');
                    j += 2;
                    continue;
                }
                if b[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    break;
                }
                line += usize::from(b[j] == '\n');
                j += 1;
            }
            out.push((start_line, b[start..j.min(b.len())].iter().collect()));
            i = j + 1 + hashes;
        } else {
            i += 1;
        }
    }
    out
}

/// A string literal holding an HTML tag: `<` followed by a letter, `/` or `!`.
fn holds_a_tag(lit: &str) -> bool {
    let b = lit.as_bytes();
    b.windows(2).any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'))
}

#[test]
fn edges_write_html_only_with_templates() {
    let mut found = Vec::new();
    for (krate, path, text) in sources() {
        if !["beian-console", "beian-admin", "beian-api", "beian-web"].contains(&krate.as_str()) {
            continue;
        }
        for (n, lit) in string_literals(&text) {
            if holds_a_tag(&lit) {
                found.push(format!("{}:{n}: \"{lit}\"", path.display()));
            }
        }
        // Raw markup only from a named constant: `PreEscaped(SOME_CONST)`.
        for (n, line) in code_lines(&text) {
            let t = line.trim_start();
            if t.starts_with("use ") || t.starts_with("//") {
                continue;
            }
            for arg in line.split("PreEscaped(").skip(1) {
                let arg = arg.split(')').next().unwrap_or("");
                if arg.is_empty()
                    || !arg.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    found.push(format!("{}:{n}: PreEscaped({arg}…) of a computed value", path.display()));
                }
            }
            if line.contains("response::Html") || line.contains("Html(") {
                found.push(format!(
                    "{}:{n}: axum's Html (a string page) instead of a maud Markup",
                    path.display()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "HTML in the edges is written with maud's html! (which escapes every value), never as strings:\n{}",
        found.join("\n")
    );
    // The detector itself works.
    let lits = |s: &str| string_literals(s).into_iter().map(|(_, l)| l).collect::<Vec<_>>();
    assert_eq!(lits(r#"let x = "<div class=card>"; // "<p>""#), vec!["<div class=card>"]);
    assert_eq!(lits("s.split('\"'); let y = r#\"<form method=post>\"#;"), vec!["<form method=post>"]);
    assert_eq!(lits("fn f<'a>(x: &'a str) { \"<table>\" }"), vec!["<table>"]);
    assert!(holds_a_tag("<div class=card>") && holds_a_tag("</td>") && holds_a_tag("<!doctype html>"));
    assert!(!holds_a_tag("请选择") && !holds_a_tag("a < b") && !holds_a_tag("1<2"));
}

/// The top-level module a source file belongs to (`src/media/sigv4.rs` → `media`), or `None`
/// for a crate root.
fn top_module(path: &std::path::Path) -> Option<String> {
    let s = path.to_string_lossy().replace('\\', "/");
    let rel = s.split("/src/").nth(1)?;
    let first = rel.split('/').next()?.trim_end_matches(".rs");
    (!matches!(first, "lib" | "main")).then(|| first.to_string())
}

/// The crate's top-level modules a file names (`crate::x`, `use crate::{x, y::z}`).
fn modules_named(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let ident = |s: &str| {
        let s = s.trim();
        let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
        s[..end].to_string()
    };
    for (_, line) in code_lines(text) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                out.extend(group.split(',').map(|p| ident(p.split("::").next().unwrap_or(""))));
            } else {
                out.insert(ident(after));
            }
            rest = after;
        }
    }
    out.retain(|m| m.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    out
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    use std::collections::{BTreeMap, BTreeSet};
    let mut graph: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (krate, path, text) in sources() {
        let Some(module) = top_module(&path) else { continue };
        let named = modules_named(&text);
        graph.entry((krate, module.clone())).or_default().extend(named.into_iter().filter(|m| *m != module));
    }
    let mut circles = Vec::new();
    for ((krate, a), uses) in &graph {
        for b in uses {
            let back = graph.get(&(krate.clone(), b.clone())).is_some_and(|u| u.contains(a));
            if a < b && back {
                circles.push(format!("{krate}: {a} <-> {b}"));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import each other (move the shared item down):\n{}",
        circles.join("\n")
    );
    // The detector itself works.
    let named = modules_named("use crate::{filing::OrderView, plans};\nfn f() { crate::jobs::enqueue(); }");
    assert_eq!(named.into_iter().collect::<Vec<_>>(), ["filing", "jobs", "plans"]);
}
