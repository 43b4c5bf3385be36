//! A minimal PDF 1.7 writer for one page of text in one embedded TrueType font: a Type0
//! font with a CIDFontType2 descendant, Identity-H encoding (2-byte CIDs = glyph ids of the
//! subset) and a /ToUnicode CMap so the text can be extracted and searched.

use std::fmt::Write as _;

use crate::font::Subset;
use crate::layout::{Line, PAGE_HEIGHT, PAGE_WIDTH};

/// Line width (pt) of the stroke that thickens "bold" text.
const BOLD_STROKE: f32 = 0.4;

/// Document information.
pub(crate) struct Info<'a> {
    pub title: &'a str,
    pub subject: &'a str,
    /// `D:YYYYMMDD`, when the document has a date.
    pub date: Option<String>,
}

/// Writes the whole document. `fonts[i]` is the subset of face `i` (`None` if the page
/// uses none of its glyphs); it is the page's font resource `/F{i}`. Output depends only on
/// the arguments (no clock, no random ids).
pub(crate) fn write(lines: &[Line], fonts: &[Option<Subset>], info: &Info<'_>) -> Vec<u8> {
    const CATALOG: usize = 1;
    const PAGES: usize = 2;
    const PAGE: usize = 3;
    const CONTENT: usize = 4;
    const INFO: usize = 5;
    // Five objects per embedded font after those.
    let font_ids: Vec<Option<usize>> = fonts
        .iter()
        .scan(INFO + 1, |next, f| {
            Some(f.as_ref().map(|_| {
                let id = *next;
                *next += 5;
                id
            }))
        })
        .collect();

    let mut pdf = Writer::default();
    pdf.object(CATALOG, format!("<< /Type /Catalog /Pages {PAGES} 0 R >>").as_bytes());
    pdf.object(PAGES, format!("<< /Type /Pages /Kids [{PAGE} 0 R] /Count 1 >>").as_bytes());
    let resources: String =
        font_ids.iter().enumerate().filter_map(|(i, id)| id.map(|id| format!(" /F{i} {id} 0 R"))).collect();
    pdf.object(
        PAGE,
        format!(
            "<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {} {}] /Resources << /Font <<{resources} >> >> /Contents {CONTENT} 0 R >>",
            num(PAGE_WIDTH),
            num(PAGE_HEIGHT)
        )
        .as_bytes(),
    );
    pdf.stream(CONTENT, "", &content(lines, fonts));

    let mut info_dict = format!(
        "<< /Title {} /Subject {} /Producer (beian-letter)",
        text_string(info.title),
        text_string(info.subject)
    );
    if let Some(date) = &info.date {
        let _ = write!(info_dict, " /CreationDate ({date})");
    }
    info_dict.push_str(" >>");
    pdf.object(INFO, info_dict.as_bytes());

    for (subset, id) in fonts.iter().zip(&font_ids) {
        if let (Some(subset), Some(id)) = (subset, id) {
            write_font(&mut pdf, *id, subset);
        }
    }
    pdf.finish(CATALOG, INFO)
}

/// A Type0 font (`id`) with its CIDFontType2 (`id + 1`), descriptor (`id + 2`), font
/// program (`id + 3`) and ToUnicode CMap (`id + 4`).
fn write_font(pdf: &mut Writer, id: usize, subset: &Subset) {
    let (cid_font, descriptor, file, to_unicode_id) = (id + 1, id + 2, id + 3, id + 4);
    let metrics = &subset.metrics;
    let base_font = format!("{}+{}", subset.tag, metrics.postscript_name);
    pdf.object(
        id,
        format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{base_font} /Encoding /Identity-H \
             /DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode_id} 0 R >>"
        )
        .as_bytes(),
    );
    let widths = subset.widths.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
    pdf.object(
        cid_font,
        format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base_font} \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor {descriptor} 0 R /DW 1000 /W [0 [{widths}]] /CIDToGIDMap /Identity >>"
        )
        .as_bytes(),
    );
    let [x0, y0, x1, y1] = metrics.bbox;
    pdf.object(
        descriptor,
        format!(
            "<< /Type /FontDescriptor /FontName /{base_font} /Flags 4 /FontBBox [{x0} {y0} {x1} {y1}] \
             /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 {file} 0 R >>",
            metrics.ascent, metrics.descent, metrics.cap_height
        )
        .as_bytes(),
    );
    pdf.stream(file, &format!("/Length1 {}", subset.data.len()), &subset.data);
    pdf.stream(to_unicode_id, "", to_unicode(subset).as_bytes());
}

/// The page's content stream: one BT…ET per line, switching fonts between runs.
fn content(lines: &[Line], fonts: &[Option<Subset>]) -> Vec<u8> {
    let mut out = String::new();
    for line in lines.iter().filter(|l| !l.glyphs.is_empty()) {
        out.push_str("q\n");
        if line.bold {
            let _ = writeln!(out, "{} w 2 Tr", num(BOLD_STROKE));
        }
        let _ = write!(out, "BT {} Tc {} {} Td", num(line.char_spacing), num(line.x), num(line.baseline));
        for run in line.glyphs.chunk_by(|a, b| a.font == b.font) {
            let font = run[0].font;
            let _ = write!(out, " /F{font} {} Tf <", num(line.size));
            for g in run {
                let cid = fonts.get(font).and_then(Option::as_ref).map_or(0, |s| s.cid(g.gid));
                let _ = write!(out, "{cid:04X}");
            }
            out.push_str("> Tj");
        }
        out.push_str(" ET\nQ\n");
    }
    out.into_bytes()
}

/// The /ToUnicode CMap: each CID to the UTF-16BE of its character.
fn to_unicode(subset: &Subset) -> String {
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(u16, char)> = subset.unicode.iter().map(|(cid, c)| (*cid, *c)).collect();
    // At most 100 entries per bfchar block.
    for chunk in entries.chunks(100) {
        let _ = writeln!(cmap, "{} beginbfchar", chunk.len());
        for (cid, c) in chunk {
            let mut utf16 = [0u16; 2];
            let units: String = c.encode_utf16(&mut utf16).iter().map(|u| format!("{u:04X}")).collect();
            let _ = writeln!(cmap, "<{cid:04X}> <{units}>");
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    cmap
}

/// A PDF text string: UTF-16BE with byte order mark, as a hex string.
fn text_string(s: &str) -> String {
    let mut out = String::from("<FEFF");
    for u in s.encode_utf16() {
        let _ = write!(out, "{u:04X}");
    }
    out.push('>');
    out
}

/// A number with at most two decimals and no trailing zeros (PDF has no exponent form).
fn num(v: f32) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "" | "-0" => "0".to_owned(),
        s => s.to_owned(),
    }
}

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// Byte offset of each object, by object number − 1.
    offsets: Vec<usize>,
}

impl Writer {
    fn start(&mut self, id: usize) {
        if self.out.is_empty() {
            // Header; the binary comment marks the file as binary for transfer tools.
            self.out.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
        }
        if self.offsets.len() < id {
            self.offsets.resize(id, 0);
        }
        self.offsets[id - 1] = self.out.len();
        self.out.extend_from_slice(format!("{id} 0 obj\n").as_bytes());
    }

    fn object(&mut self, id: usize, body: &[u8]) {
        self.start(id);
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// A Flate-compressed stream; `extra` holds more dictionary entries.
    fn stream(&mut self, id: usize, extra: &str, data: &[u8]) {
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(data, 9);
        self.start(id);
        let sep = if extra.is_empty() { "" } else { " " };
        self.out.extend_from_slice(
            format!("<< /Length {} /Filter /FlateDecode{sep}{extra} >>\nstream\n", compressed.len())
                .as_bytes(),
        );
        self.out.extend_from_slice(&compressed);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
    }

    fn finish(mut self, root: usize, info: usize) -> Vec<u8> {
        let xref = self.out.len();
        let count = self.offsets.len() + 1;
        let mut table = format!("xref\n0 {count}\n0000000000 65535 f \n");
        for offset in &self.offsets {
            let _ = writeln!(table, "{offset:010} 00000 n ");
        }
        let _ = write!(
            table,
            "trailer\n<< /Size {count} /Root {root} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        );
        self.out.extend_from_slice(table.as_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(0.126), "0.13");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(595.5), "595.5");
        assert_eq!(num(f32::NAN), "0");
    }

    #[test]
    fn text_strings_are_utf16_hex() {
        assert_eq!(text_string("承诺"), "<FEFF627F8BFA>");
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let mut w = Writer::default();
        w.object(1, b"<< >>");
        w.object(2, b"<< >>");
        let out = w.finish(1, 2);
        let tail = String::from_utf8_lossy(&out[out.len() - 30..]).into_owned();
        let xref_at: usize = tail.lines().rev().nth(1).and_then(|l| l.parse().ok()).expect("startxref value");
        assert!(out[xref_at..].starts_with(b"xref\n0 3\n"));
        let table = String::from_utf8_lossy(&out[xref_at..]).into_owned();
        for (i, entry) in table.lines().skip(3).take(2).enumerate() {
            let offset: usize = entry[..10].parse().expect("offset");
            assert!(out[offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
    }
}
