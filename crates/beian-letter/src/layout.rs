//! Paragraph layout on one A4 page: line breaking by the font's advance widths (with the
//! usual Chinese rules: no closing punctuation at a line start, no opening bracket at a line
//! end, Latin words such as AppIDs kept together), justification, and vertical placement.

use std::ops::Range;

use crate::font::{Fonts, Glyph};

/// A4 in PostScript points.
pub(crate) const PAGE_WIDTH: f32 = 595.0;
pub(crate) const PAGE_HEIGHT: f32 = 842.0;
pub(crate) const MARGIN: f32 = 60.0;
/// Line height as a multiple of the font size.
pub(crate) const LINE_HEIGHT: f32 = 1.6;

const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// Where the centre of an ideograph's em box sits above the baseline, in em.
const EM_BOX_CENTER: f32 = 0.38;
/// Largest letter spacing (in em) used to justify a line; looser lines stay ragged.
const MAX_JUSTIFY_SPACING: f32 = 0.3;
const EPSILON: f32 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
}

/// How a block is set. Lengths are in em of the body font size unless noted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    /// Font size relative to the body size.
    pub scale: f32,
    pub align: Align,
    /// Offset of the whole block from the left margin.
    pub left: f32,
    /// Extra indent of the first line (e.g. 2 em for a Chinese paragraph).
    pub first_indent: f32,
    /// Continuation lines line up after the block's label (the text up to the first '：').
    pub hang_after_label: bool,
    /// Vertical space before the block, in body line heights.
    pub space_before: f32,
    /// Justify every line but the last to the full width.
    pub justify: bool,
    /// Drawn with fill + stroke, as a heavier weight (the font has no bold face).
    pub bold: bool,
}

impl Style {
    pub const PARAGRAPH: Style = Style {
        scale: 1.0,
        align: Align::Left,
        left: 0.0,
        first_indent: 2.0,
        hang_after_label: false,
        space_before: 0.0,
        justify: true,
        bold: false,
    };
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub text: String,
    pub style: Style,
}

/// One line of text, positioned on the page.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub x: f32,
    pub baseline: f32,
    pub size: f32,
    pub glyphs: Vec<Glyph>,
    /// PDF character spacing (Tc) in points, used to justify the line.
    pub char_spacing: f32,
    pub bold: bool,
}

/// Lays the blocks out at the given body size; `None` if they do not fit on the page.
pub(crate) fn layout(fonts: &Fonts, blocks: &[Block], body_size: f32) -> Option<Vec<Line>> {
    let body_line = body_size * LINE_HEIGHT;
    let mut top = PAGE_HEIGHT - MARGIN;
    let mut lines = Vec::new();
    for block in blocks {
        let style = block.style;
        let size = body_size * style.scale;
        let left = MARGIN + style.left * body_size;
        let width = TEXT_WIDTH - style.left * body_size;
        let glyphs = fonts.shape(&block.text);
        let first_indent = style.first_indent * body_size;
        let rest_indent =
            if style.hang_after_label { label_width(&glyphs, size, width) + first_indent } else { 0.0 };
        let first_width = width - first_indent;
        let rest_width = width - rest_indent;

        top -= style.space_before * body_line;
        let wrapped = wrap(&glyphs, size, first_width, rest_width);
        let count = wrapped.len();
        for (i, glyphs) in wrapped.into_iter().enumerate() {
            let (indent, avail) =
                if i == 0 { (first_indent, first_width) } else { (rest_indent, rest_width) };
            let used = line_width(&glyphs, size);
            let last = i + 1 == count;
            let x = match style.align {
                Align::Left => left + indent,
                Align::Center => left + indent + (avail - used) / 2.0,
            };
            let char_spacing = if style.justify && !last && glyphs.len() > 1 {
                let spacing = (avail - used) / (glyphs.len() - 1) as f32;
                if spacing.abs() <= MAX_JUSTIFY_SPACING * size {
                    spacing
                } else {
                    0.0
                }
            } else {
                0.0
            };
            let line_height = size * LINE_HEIGHT;
            let baseline = top - line_height / 2.0 - EM_BOX_CENTER * size;
            top -= line_height;
            lines.push(Line { x, baseline, size, glyphs, char_spacing, bold: style.bold });
        }
    }
    (top >= MARGIN - EPSILON).then_some(lines)
}

/// Width of the label (up to and including the first '：'), or 0 when there is none or it
/// would leave too little room for the value.
fn label_width(glyphs: &[Glyph], size: f32, width: f32) -> f32 {
    match glyphs.iter().position(|g| g.ch == '：') {
        Some(end) => {
            let w = line_width(&glyphs[..=end], size);
            if w <= width / 2.0 {
                w
            } else {
                0.0
            }
        }
        None => 0.0,
    }
}

fn line_width(glyphs: &[Glyph], size: f32) -> f32 {
    glyphs.iter().map(|g| g.advance).sum::<f32>() * size
}

/// Characters that may not begin a line: they hang into the right margin instead (the
/// justification then squeezes the line back to the text width).
fn no_line_start(c: char) -> bool {
    matches!(
        c,
        '，' | '。'
            | '、'
            | '；'
            | '：'
            | '？'
            | '！'
            | '）'
            | '》'
            | '」'
            | '』'
            | '】'
            | '〕'
            | '”'
            | '’'
            | '…'
            | '·'
            | ','
            | '.'
            | ';'
            | ':'
            | '?'
            | '!'
            | ')'
            | ']'
    )
}

/// Characters that may not end a line: they move to the next one with what follows.
fn no_line_end(c: char) -> bool {
    matches!(c, '（' | '《' | '「' | '『' | '【' | '〔' | '“' | '‘' | '(' | '[')
}

/// Parts of a Latin "word" (AppIDs, e-mail addresses, underscores of a blank field), which
/// are only broken when longer than a line.
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@')
}

/// Unbreakable units: a Latin word, or a single other character.
fn units(glyphs: &[Glyph]) -> Vec<Range<usize>> {
    let mut units = Vec::new();
    let mut i = 0;
    while i < glyphs.len() {
        let mut j = i + 1;
        if word_char(glyphs[i].ch) {
            while j < glyphs.len() && word_char(glyphs[j].ch) {
                j += 1;
            }
        }
        units.push(i..j);
        i = j;
    }
    units
}

/// Breaks a paragraph into lines no wider than `first_width` (first line) / `rest_width`
/// (others), except for hanging punctuation. Always returns at least one line.
fn wrap(glyphs: &[Glyph], size: f32, first_width: f32, rest_width: f32) -> Vec<Vec<Glyph>> {
    let mut lines: Vec<Vec<Glyph>> = Vec::new();
    let mut current: Vec<Glyph> = Vec::new();
    let mut used = 0.0;
    let avail = |done: usize| if done == 0 { first_width } else { rest_width };

    for unit in units(glyphs) {
        let unit = &glyphs[unit];
        let unit_width = line_width(unit, size);
        let is_space = unit.iter().all(Glyph::is_space);
        if is_space && current.is_empty() && !lines.is_empty() {
            continue; // no leading space on a continuation line
        }
        if used + unit_width <= avail(lines.len()) + EPSILON {
            current.extend_from_slice(unit);
            used += unit_width;
            continue;
        }
        if current.is_empty() && !lines.is_empty() && is_space {
            continue;
        }
        if unit.len() == 1 && no_line_start(unit[0].ch) && !current.is_empty() {
            current.push(unit[0]); // hanging punctuation
            used += unit_width;
            continue;
        }
        if is_space {
            finish_line(&mut lines, &mut current);
            used = 0.0;
            continue;
        }
        // A word longer than a whole line is broken anyway: start it on this line.
        let overlong = unit_width > rest_width + EPSILON;
        if !current.is_empty() && !overlong {
            let mut carry = Vec::new();
            while current.len() > 1 && current.last().is_some_and(|g| no_line_end(g.ch)) {
                if let Some(g) = current.pop() {
                    carry.insert(0, g);
                }
            }
            finish_line(&mut lines, &mut current);
            used = line_width(&carry, size);
            current = carry;
        }
        if used + unit_width <= avail(lines.len()) + EPSILON {
            current.extend_from_slice(unit);
            used += unit_width;
        } else {
            // Longer than a whole line: break it anywhere.
            for g in unit {
                let w = g.advance * size;
                if used + w > avail(lines.len()) + EPSILON && !current.is_empty() {
                    finish_line(&mut lines, &mut current);
                    used = 0.0;
                }
                current.push(*g);
                used += w;
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        finish_line(&mut lines, &mut current);
    }
    lines
}

fn finish_line(lines: &mut Vec<Vec<Glyph>>, current: &mut Vec<Glyph>) {
    while current.last().is_some_and(Glyph::is_space) {
        current.pop();
    }
    lines.push(std::mem::take(current));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &[Glyph]) -> String {
        line.iter().map(|g| g.ch).collect()
    }

    fn font() -> Fonts {
        Fonts::load().expect("embedded fonts parse")
    }

    #[test]
    fn wraps_within_width_and_keeps_words() {
        let font = font();
        let glyphs = font.shape("小程序AppID为wx1234567890abcdef，请核对。");
        // 12 pt: each ideograph is 12 pt wide; the AppID about 130 pt.
        let lines = wrap(&glyphs, 12.0, 150.0, 150.0);
        let texts: Vec<String> = lines.iter().map(|l| text(l)).collect();
        assert!(texts.iter().any(|t| t.contains("wx1234567890abcdef")), "{texts:?}");
        for line in &lines {
            let hanging = line.last().is_some_and(|g| no_line_start(g.ch));
            let width = line_width(line, 12.0);
            assert!(hanging || width <= 150.0 + EPSILON, "{} is {width} pt", text(line));
            assert!(!line.first().is_some_and(|g| no_line_start(g.ch)), "{}", text(line));
        }
        assert_eq!(texts.concat(), "小程序AppID为wx1234567890abcdef，请核对。");
    }

    #[test]
    fn breaks_overlong_words_and_moves_opening_brackets() {
        let font = font();
        let glyphs = font.shape(&"a".repeat(200));
        let lines = wrap(&glyphs, 12.0, 100.0, 100.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| line_width(l, 12.0) <= 100.0 + EPSILON));
        // …starting right after what precedes it rather than on a line of its own.
        let glyphs = font.shape(&format!("编号：{}", "a".repeat(200)));
        let lines = wrap(&glyphs, 12.0, 100.0, 100.0);
        assert!(text(&lines[0]).starts_with("编号：a"), "{}", text(&lines[0]));

        let glyphs = font.shape("一二三四五六七（八）");
        let lines = wrap(&glyphs, 10.0, 80.0, 80.0);
        let texts: Vec<String> = lines.iter().map(|l| text(l)).collect();
        assert_eq!(texts, ["一二三四五六七", "（八）"]);
    }

    #[test]
    fn empty_text_is_one_empty_line() {
        assert_eq!(wrap(&[], 12.0, 100.0, 100.0), vec![Vec::<Glyph>::new()]);
    }
}
