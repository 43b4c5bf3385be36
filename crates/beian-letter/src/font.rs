//! The embedded fonts: character → glyph lookup with a fallback for missing characters,
//! advance widths, and the subsets that go into the PDF.
//!
//! Droid Sans Fallback covers CJK (ideographs, CJK and full-width punctuation) but has no
//! Latin letters, digits or ASCII punctuation at all, so DejaVu Sans is embedded next to it
//! for those (and for the replacement box).

use std::collections::BTreeMap;

use ttf_parser::{name_id, Face, GlyphId};

use crate::LetterError;

/// Index of the CJK face in [`Fonts`].
pub(crate) const CJK: usize = 0;
/// Index of the Latin face in [`Fonts`].
pub(crate) const LATIN: usize = 1;

/// Droid Sans Fallback (Apache-2.0, Debian `fonts-droid-fallback`); see
/// `fonts/LICENSE-DroidSansFallback.txt`.
static CJK_FONT: &[u8] = include_bytes!("../fonts/DroidSansFallbackFull.ttf");
/// DejaVu Sans (Bitstream Vera license, Debian `fonts-dejavu-core`); see
/// `fonts/LICENSE-DejaVuSans.txt`.
static LATIN_FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Drawn in place of a character no embedded font has a glyph for.
pub(crate) const REPLACEMENT: char = '□';

/// One character set in one of the fonts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Glyph {
    /// Which face of [`Fonts`].
    pub font: usize,
    /// Glyph id in the full (embedded) face.
    pub gid: u16,
    /// The character the glyph shows (the replacement for a missing character).
    pub ch: char,
    /// Advance width in em, rounded to 1/1000 em as written in the PDF's /W array.
    pub advance: f32,
}

impl Glyph {
    pub fn is_space(&self) -> bool {
        self.ch == ' '
    }
}

pub(crate) struct FontFace {
    data: &'static [u8],
    face: Face<'static>,
    units_per_em: f32,
    fallback_name: &'static str,
}

impl FontFace {
    fn parse(data: &'static [u8], fallback_name: &'static str) -> Result<Self, LetterError> {
        let face = Face::parse(data, 0).map_err(LetterError::FontParse)?;
        let units_per_em = f32::from(face.units_per_em().max(1));
        Ok(Self { data, face, units_per_em, fallback_name })
    }

    /// Advance width in 1/1000 em.
    fn advance_milli(&self, gid: GlyphId) -> u32 {
        let units = self.face.glyph_hor_advance(gid).unwrap_or(self.face.units_per_em());
        (f32::from(units) * 1000.0 / self.units_per_em).round() as u32
    }

    /// Font-wide metrics in PDF glyph space (1/1000 em), for the font descriptor.
    pub fn metrics(&self) -> FontMetrics {
        let scale = |v: i16| (f32::from(v) * 1000.0 / self.units_per_em).round() as i32;
        let bbox = self.face.global_bounding_box();
        let ascent = scale(self.face.ascender());
        FontMetrics {
            postscript_name: self.postscript_name(),
            bbox: [scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max)],
            ascent,
            descent: scale(self.face.descender()),
            cap_height: self.face.capital_height().map_or(ascent, scale),
        }
    }

    fn postscript_name(&self) -> String {
        let name = self
            .face
            .names()
            .into_iter()
            .filter(|n| n.name_id == name_id::POST_SCRIPT_NAME)
            .find_map(|n| n.to_string())
            .unwrap_or_default();
        // A PDF name without delimiters or whitespace.
        let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        if name.is_empty() {
            self.fallback_name.to_owned()
        } else {
            name
        }
    }
}

/// The embedded faces, in the order they are tried for a non-ASCII character (ASCII tries
/// the Latin face first, so Latin words stay in one face).
pub(crate) struct Fonts {
    faces: [FontFace; 2],
}

impl Fonts {
    pub fn load() -> Result<Self, LetterError> {
        Ok(Self {
            faces: [
                FontFace::parse(CJK_FONT, "DroidSansFallback")?,
                FontFace::parse(LATIN_FONT, "DejaVuSans")?,
            ],
        })
    }

    pub fn faces(&self) -> &[FontFace] {
        &self.faces
    }

    fn lookup(&self, c: char) -> Option<(usize, GlyphId)> {
        let order = if c.is_ascii() { [LATIN, CJK] } else { [CJK, LATIN] };
        order.into_iter().find_map(|i| self.faces[i].face.glyph_index(c).map(|gid| (i, gid)))
    }

    fn glyph(&self, font: usize, gid: GlyphId, ch: char) -> Glyph {
        let advance = self.faces[font].advance_milli(gid) as f32 / 1000.0;
        Glyph { font, gid: gid.0, ch, advance }
    }

    /// Glyphs for `text`. Control characters are dropped and other whitespace becomes a
    /// space; a character no face has is drawn as [`REPLACEMENT`] and logged.
    pub fn shape(&self, text: &str) -> Vec<Glyph> {
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let c = match c {
                c if c.is_whitespace() => ' ',
                c if c.is_control() => continue,
                c => c,
            };
            let glyph = match self.lookup(c) {
                Some((font, gid)) => self.glyph(font, gid, c),
                None => {
                    tracing::warn!(
                        character = %c,
                        code_point = format_args!("U+{:04X}", u32::from(c)),
                        "character missing from the letter's fonts; drawn as {REPLACEMENT}"
                    );
                    // .notdef of the CJK face if even the replacement were missing.
                    let (font, gid) = self.lookup(REPLACEMENT).unwrap_or((CJK, GlyphId(0)));
                    self.glyph(font, gid, REPLACEMENT)
                }
            };
            glyphs.push(glyph);
        }
        glyphs
    }
}

pub(crate) struct FontMetrics {
    pub postscript_name: String,
    pub bbox: [i32; 4],
    pub ascent: i32,
    pub descent: i32,
    pub cap_height: i32,
}

/// One face reduced to the glyphs one document uses, renumbered from 0 (`.notdef`)
/// upwards; the new glyph ids are the CIDs written in the PDF.
pub(crate) struct Subset {
    /// The subset TrueType font program.
    pub data: Vec<u8>,
    /// Old (full face) glyph id → new glyph id.
    map: BTreeMap<u16, u16>,
    /// Advance width per new glyph id, in 1/1000 em.
    pub widths: Vec<u32>,
    /// New glyph id → the character it shows, for the /ToUnicode CMap.
    pub unicode: BTreeMap<u16, char>,
    pub metrics: FontMetrics,
    /// Six capital letters for the subset's font name (`ABCDEF+Name`).
    pub tag: String,
}

impl Subset {
    /// The subset of `face` with the given glyphs (all of which must be from `face`).
    pub fn new(face: &FontFace, glyphs: impl IntoIterator<Item = Glyph>) -> Result<Self, LetterError> {
        let mut used: BTreeMap<u16, char> = BTreeMap::new();
        for g in glyphs {
            used.entry(g.gid).or_insert(g.ch);
        }
        let gids: Vec<u16> = used.keys().copied().collect();
        let remapper = subsetter::GlyphRemapper::new_from_glyphs_sorted(&gids);
        let data = subsetter::subset(face.data, 0, &remapper).map_err(LetterError::FontSubset)?;

        let mut map = BTreeMap::new();
        let mut widths = Vec::new();
        let mut unicode = BTreeMap::new();
        for (new, old) in remapper.remapped_gids().enumerate() {
            let new =
                u16::try_from(new).map_err(|_| LetterError::FontSubset(subsetter::Error::OverflowError))?;
            map.insert(old, new);
            widths.push(face.advance_milli(GlyphId(old)));
            if let Some(&c) = used.get(&old) {
                unicode.insert(new, c);
            }
        }
        let metrics = face.metrics();
        let tag = subset_tag(&metrics.postscript_name, &gids);
        Ok(Self { data, map, widths, unicode, metrics, tag })
    }

    /// The CID (new glyph id) for a glyph of the full face; `.notdef` if it is not in the
    /// subset (cannot happen for glyphs passed to [`Subset::new`]).
    pub fn cid(&self, gid: u16) -> u16 {
        self.map.get(&gid).copied().unwrap_or(0)
    }
}

/// A six-letter subset tag derived from the face and glyph set (FNV-1a), so output is
/// reproducible and different subsets get different names.
fn subset_tag(name: &str, gids: &[u16]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = name.bytes().chain(gids.iter().flat_map(|g| g.to_be_bytes()));
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..6).map(|i| char::from(b'A' + ((h >> (i * 5)) % 26) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_and_latin_come_from_their_faces() {
        let fonts = Fonts::load().expect("embedded fonts parse");
        let glyphs = fonts.shape("备案AppID：wx01");
        let faces: Vec<usize> = glyphs.iter().map(|g| g.font).collect();
        assert_eq!(faces, [CJK, CJK, LATIN, LATIN, LATIN, LATIN, LATIN, CJK, LATIN, LATIN, LATIN, LATIN]);
        assert!(glyphs.iter().all(|g| g.gid != 0 && g.advance > 0.0));
        // Ideographs are one em wide.
        assert_eq!(glyphs[0].advance, 1.0);
    }

    #[test]
    fn missing_characters_become_the_replacement() {
        let fonts = Fonts::load().expect("embedded fonts parse");
        // U+20BB7 (𠮷) is outside both faces; U+E000 is private use.
        let glyphs = fonts.shape("吉\u{20BB7}\u{E000}\n");
        let chars: String = glyphs.iter().map(|g| g.ch).collect();
        assert_eq!(chars, "吉□□ ");
        assert_ne!(glyphs[1].gid, 0, "the replacement box has a glyph");
    }
}
