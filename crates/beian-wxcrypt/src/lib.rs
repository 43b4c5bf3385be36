//! WeChat's message encryption for third-party platform pushes, shared by the server (which
//! encrypts and signs events) and the client crate (which checks and decrypts them).
//!
//! The algorithm, as WeChat documents it for `component_verify_ticket` and authorization
//! events:
//! - key = base64-decode(EncodingAESKey + "=") (32 bytes), IV = the key's first 16 bytes;
//! - plaintext = 16 random bytes ‖ message length (4 bytes, big-endian) ‖ message ‖ appid;
//! - PKCS#7 padding to a multiple of **32** bytes, AES-256-CBC, base64;
//! - `msg_signature` = hex(SHA-1(sort([token, timestamp, nonce, encrypt]).concat())).
//!
//! The envelope POSTed to the provider is `<xml><AppId>…</AppId><Encrypt>…</Encrypt></xml>`
//! with `timestamp`, `nonce`, `encrypt_type=aes` and `msg_signature` in the query string.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use rand::RngCore;
use sha1::{Digest, Sha1};

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

const PAD_BLOCK: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WxCryptError {
    #[error("EncodingAESKey must be 43 base64 characters")]
    BadKey,
    #[error("ciphertext is not valid base64 or not a whole number of blocks")]
    BadCiphertext,
    #[error("decrypted message is malformed (bad padding or length)")]
    BadPlaintext,
    #[error("message was encrypted for appid {0}, not this one")]
    WrongAppId(String),
    #[error("msg_signature does not match")]
    BadSignature,
}

/// The keys of one third-party platform.
#[derive(Clone)]
pub struct WxCrypt {
    token: String,
    key: [u8; 32],
    appid: String,
}

impl std::fmt::Debug for WxCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WxCrypt").field("appid", &self.appid).finish_non_exhaustive()
    }
}

/// A fresh EncodingAESKey (43 characters).
pub fn generate_encoding_aes_key() -> String {
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    let s = base64::engine::general_purpose::STANDARD.encode(k);
    s.trim_end_matches('=').to_string()
}

/// `msg_signature`: SHA-1 over the sorted, concatenated parts.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

impl WxCrypt {
    /// `appid` is the component appid the messages are encrypted for.
    pub fn new(token: &str, encoding_aes_key: &str, appid: &str) -> Result<WxCrypt, WxCryptError> {
        if encoding_aes_key.len() != 43 {
            return Err(WxCryptError::BadKey);
        }
        // Real keys are 43 random characters: the last one's low bits are not zero, so the
        // decoder must allow trailing bits (as WeChat's own Java/PHP samples do).
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = lenient.decode(format!("{encoding_aes_key}=")).map_err(|_| WxCryptError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| WxCryptError::BadKey)?;
        Ok(WxCrypt { token: token.into(), key, appid: appid.into() })
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Encrypt a message (usually the inner XML) to the base64 `Encrypt` value.
    pub fn encrypt(&self, msg: &str) -> String {
        let mut random = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut random);
        self.encrypt_with_random(msg, random)
    }

    fn encrypt_with_random(&self, msg: &str, random: [u8; 16]) -> String {
        let mut plain = Vec::with_capacity(16 + 4 + msg.len() + self.appid.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let len = plain.len();
        let iv: [u8; 16] = self.key[..16].try_into().expect("16-byte slice");
        let ct = Enc::new(&self.key.into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .expect("length is a multiple of the block size")
            .to_vec();
        base64::engine::general_purpose::STANDARD.encode(ct)
    }

    /// Decrypt an `Encrypt` value; the appid inside must be ours.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, WxCryptError> {
        let mut data = base64::engine::general_purpose::STANDARD
            .decode(encrypt.trim())
            .map_err(|_| WxCryptError::BadCiphertext)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(WxCryptError::BadCiphertext);
        }
        let iv: [u8; 16] = self.key[..16].try_into().expect("16-byte slice");
        let plain = Dec::new(&self.key.into(), &iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut data)
            .map_err(|_| WxCryptError::BadCiphertext)?;
        let pad = *plain.last().ok_or(WxCryptError::BadPlaintext)? as usize;
        if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
            return Err(WxCryptError::BadPlaintext);
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(WxCryptError::BadPlaintext);
        }
        let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(WxCryptError::BadPlaintext);
        }
        let msg = std::str::from_utf8(&rest[..len]).map_err(|_| WxCryptError::BadPlaintext)?;
        let appid = std::str::from_utf8(&rest[len..]).map_err(|_| WxCryptError::BadPlaintext)?;
        if appid != self.appid {
            return Err(WxCryptError::WrongAppId(appid.to_string()));
        }
        Ok(msg.to_string())
    }

    pub fn sign(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Check `msg_signature`, then decrypt.
    pub fn open(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, WxCryptError> {
        if !msg_signature.eq_ignore_ascii_case(&self.sign(timestamp, nonce, encrypt)) {
            return Err(WxCryptError::BadSignature);
        }
        self.decrypt(encrypt)
    }

    /// The XML envelope for a push.
    pub fn envelope(&self, encrypt: &str) -> String {
        format!(
            "<xml><AppId><![CDATA[{}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
            self.appid
        )
    }
}

/// Fields of a flat XML message (`<xml><A>1</A><B><![CDATA[x]]></B></xml>`), in order.
/// Enough for WeChat's envelopes and events; nested elements are returned as raw text. Text
/// in CDATA sections is taken literally — including `<`, `</A>` and, split across sections as
/// [`xml_message`] writes it, `]]>` — and the rest is unescaped.
pub fn xml_fields(xml: &str) -> Vec<(String, String)> {
    let inner = xml.trim();
    let inner = inner.strip_prefix("<xml>").and_then(|s| s.strip_suffix("</xml>")).unwrap_or(inner);
    let mut out = Vec::new();
    let mut rest = inner;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        let tag = &after[..end];
        if tag.starts_with('/') || tag.is_empty() {
            rest = &after[end + 1..];
            continue;
        }
        let close = format!("</{tag}>");
        let body_start = &after[end + 1..];
        let Some(close_at) = find_close(body_start, &close) else { break };
        out.push((tag.to_string(), text_content(&body_start[..close_at])));
        rest = &body_start[close_at + close.len()..];
    }
    out
}

const CDATA_OPEN: &str = "<![CDATA[";
const CDATA_CLOSE: &str = "]]>";

/// Where `close` starts in `s`, skipping CDATA sections (whose text may contain it).
fn find_close(s: &str, close: &str) -> Option<usize> {
    let mut from = 0;
    loop {
        let rest = &s[from..];
        let at = rest.find(close)?;
        match rest[..at].find(CDATA_OPEN) {
            Some(open) => {
                let text = from + open + CDATA_OPEN.len();
                from = text + s[text..].find(CDATA_CLOSE)? + CDATA_CLOSE.len();
            }
            None => return Some(from + at),
        }
    }
}

/// An element's text: CDATA sections literally, everything else unescaped.
fn text_content(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(open) = rest.find(CDATA_OPEN) {
        out.push_str(&unescape(&rest[..open]));
        let text = &rest[open + CDATA_OPEN.len()..];
        let end = text.find(CDATA_CLOSE).unwrap_or(text.len());
        out.push_str(&text[..end]);
        rest = text.get(end + CDATA_CLOSE.len()..).unwrap_or_default();
    }
    out.push_str(&unescape(rest));
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// One field of a flat XML message.
pub fn xml_field(xml: &str, name: &str) -> Option<String> {
    xml_fields(xml).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Build a flat XML message; text goes in CDATA (with `]]>` split so it cannot break out),
/// numbers as they are.
pub fn xml_message(fields: &[(&str, XmlValue)]) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        match v {
            XmlValue::Text(t) => {
                out.push_str(&format!("<{k}><![CDATA[{}]]></{k}>", t.replace("]]>", "]]]]><![CDATA[>")))
            }
            XmlValue::Number(n) => out.push_str(&format!("<{k}>{n}</{k}>")),
        }
    }
    out.push_str("</xml>");
    out
}

#[derive(Debug, Clone)]
pub enum XmlValue {
    Text(String),
    Number(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_signature() {
        let key = generate_encoding_aes_key();
        assert_eq!(key.len(), 43);
        let c = WxCrypt::new("tok", &key, "wxcomponent").expect("key");
        for msg in ["", "a", &"长".repeat(40), &"x".repeat(31), &"y".repeat(32)] {
            let enc = c.encrypt(msg);
            let sig = c.sign("1700000000", "nonce", &enc);
            assert_eq!(c.open(&sig, "1700000000", "nonce", &enc).expect("open"), msg);
            assert_eq!(c.open("bad", "1700000000", "nonce", &enc), Err(WxCryptError::BadSignature));
        }
        let other = WxCrypt::new("tok", &key, "wxother").expect("key");
        assert!(matches!(other.decrypt(&c.encrypt("m")), Err(WxCryptError::WrongAppId(_))));
        assert_eq!(c.decrypt("!!"), Err(WxCryptError::BadCiphertext));
    }

    /// Known-answer check of the layout with a fixed random prefix, built independently
    /// with the raw cipher (so a change in framing is caught).
    #[test]
    fn layout_is_wechats() {
        let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let c = WxCrypt::new("t", key, "wxA").expect("key");
        let enc = c.encrypt_with_random("hi", [0u8; 16]);
        let raw = base64::engine::general_purpose::STANDARD.decode(&enc).expect("b64");
        assert_eq!(raw.len(), 32, "16+4+2+3 = 25 bytes pad to one 32-byte block");
        let k = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        )
        .decode(format!("{key}="))
        .expect("key");
        let mut buf = raw.clone();
        let plain =
            Dec::new(k[..].into(), k[..16].into()).decrypt_padded_mut::<NoPadding>(&mut buf).expect("dec");
        assert_eq!(&plain[..16], &[0u8; 16]);
        assert_eq!(&plain[16..20], &[0, 0, 0, 2]);
        assert_eq!(&plain[20..25], b"hiwxA");
        assert!(plain[25..].iter().all(|b| *b == 7));
    }

    #[test]
    fn signature_sorts_parts() {
        // sha1("123abc" sorted as ["1","2","3","abc"]) computed independently.
        assert_eq!(signature("3", "1", "abc", "2"), hex::encode(Sha1::digest(b"123abc")));
    }

    #[test]
    fn xml_round_trip() {
        let xml = xml_message(&[
            ("AppId", XmlValue::Text("wx1".into())),
            ("CreateTime", XmlValue::Number(1700000000)),
            ("Note", XmlValue::Text("a]]>b<c>".into())),
        ]);
        assert_eq!(xml_field(&xml, "AppId").as_deref(), Some("wx1"));
        assert_eq!(xml_field(&xml, "CreateTime").as_deref(), Some("1700000000"));
        assert_eq!(xml_fields(&xml).len(), 3);
        assert_eq!(xml_field("<xml><A>&lt;1&gt;</A></xml>", "A").as_deref(), Some("<1>"));
    }

    /// Found by the `wx_push` fuzz target: a text with `]]>` (which `xml_message` splits
    /// across two CDATA sections) or with the field's own closing tag came back changed.
    #[test]
    fn xml_text_survives_cdata_tricks() {
        for text in ["a]]>b", "]]>", "x</Note>y", "<![CDATA[", "]]]]><![CDATA[>", "&amp;<>\"'", ""] {
            let xml = xml_message(&[("Note", XmlValue::Text(text.into())), ("B", XmlValue::Number(1))]);
            assert_eq!(xml_field(&xml, "Note").as_deref(), Some(text), "{xml}");
            assert_eq!(xml_field(&xml, "B").as_deref(), Some("1"), "{xml}");
        }
        assert_eq!(xml_field("<xml><A>x<![CDATA[<y>]]>&amp;</A></xml>", "A").as_deref(), Some("x<y>&"));
        // An unterminated section ends the message, as a missing closing tag does.
        assert_eq!(xml_fields("<xml><A><![CDATA[</A></xml>"), vec![]);
    }
}
