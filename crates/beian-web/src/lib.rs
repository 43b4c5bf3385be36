//! What every server-rendered edge of beian needs and nothing else: the HTML document frame
//! ([`document`], a maud template: the edges write every page with maud's `html!`, which
//! escapes every interpolated value), `application/x-www-form-urlencoded` decoding/encoding,
//! the constant-time comparison of CSRF tokens, and the per-client limits of the public pages
//! ([`limits`]), and an application as people read it ([`application`]: Chinese labels, decoded
//! codes). Dependencies: maud, and beian-core for the dictionaries.

pub mod application;
pub mod limits;

use maud::{html, Markup, DOCTYPE};

/// The HTML document of every page: zh-CN, UTF-8, the mobile viewport, the title ("`title` -
/// `site`"), then what `head` adds (style sheets) and the `body`.
pub fn document(title: &str, site: &str, head: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - " (site) }
                (head)
            }
            body { (body) }
        }
    }
}

/// The page of an address nothing answers (404): what happened and where to go instead.
pub fn not_found_page() -> Markup {
    let head = html! { link rel="stylesheet" href="/console/static/console.css"; };
    let body = html! {
        header.top { a.brand href="/console" { "小程序备案" } }
        main {
            div.card #not-found {
                h1 { "页面不存在" }
                p { "你访问的地址不存在，可能是链接有误或页面已移动。" }
                p {
                    a.btn href="/console" { "返回控制台首页" }
                    " "
                    a class="btn secondary" href="/query" { "备案查询" }
                }
            }
        }
    };
    document("页面不存在", "小程序备案", head, body)
}

/// Whether two secrets (CSRF tokens) are equal, in a time that does not depend on where they
/// differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decode one form/query component (`+` is a space; invalid escapes are kept as they are;
/// invalid UTF-8 becomes U+FFFD).
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode everything but unreserved characters (and `/` when `keep_slash`).
pub fn url_encode(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `application/x-www-form-urlencoded` pairs, in order, repeated keys kept.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// The first value of `key` ("" if absent).
pub fn form_get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(n, _)| n == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("a1b2", "a1b2"));
        assert!(!same_secret("a1b2", "a1b3"));
        assert!(!same_secret("a1b2", "a1b"));
        assert!(!same_secret("", "x"));
    }

    #[test]
    fn round_trips() {
        assert_eq!(url_decode("a+b%20c%E4%B8%AD%zz%"), "a b c中%zz%");
        assert_eq!(url_decode(&url_encode("/console?x=中 文", false)), "/console?x=中 文");
        assert_eq!(url_encode("/a b", true), "/a%20b");
        let f = form_pairs(b"a=1&b=%E4%B8%AD&a=2&c");
        assert_eq!(form_get(&f, "a"), "1");
        assert_eq!(form_get(&f, "b"), "中");
        assert_eq!(form_get(&f, "c"), "");
        assert_eq!(f.iter().filter(|(k, _)| k == "a").count(), 2);
    }
}
