//! Encryption at rest for people's data (ID numbers, phones, filing payloads) and the keyed
//! blind index that lets us look an ID number up without storing it in plain text.
//!
//! One 32-byte master key; two sub-keys derived with HMAC-SHA256 so the AEAD key and the
//! index key are independent. Ciphertext layout: `v1 (1 byte) | nonce (24) | ciphertext+tag`.
//! Application payloads and drafts are deflated before they are encrypted
//! ([`Crypto::encrypt_compressed`]).

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
/// First byte of a deflated plaintext. JSON, which plaintexts stored uncompressed are, never
/// starts with it.
const DEFLATED: u8 = 0;
/// Inflated plaintexts larger than this are refused (payloads are a few kilobytes).
const MAX_INFLATED: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("ciphertext is corrupt or was written with another key")]
    Decrypt,
}

/// Keys derived from the master key. Cheap to clone.
#[derive(Clone)]
pub struct Crypto {
    aead: XChaCha20Poly1305,
    index_key: [u8; 32],
    secret_key: [u8; 32],
    /// Names media objects: a keyed MAC of their bytes (identical files still share one object,
    /// and the name does not reveal a hash anyone could compute from a known photo).
    media_mac_key: [u8; 32],
    /// Wraps each media object's own data key.
    media_kek: XChaCha20Poly1305,
}

/// First bytes of a sealed media object (anything else is a plain object from before media
/// were encrypted; `beian migrate` converts those).
pub const MEDIA_MAGIC: &[u8; 8] = b"BEIANM1\0";
/// Sealed object = `MEDIA_MAGIC | wrap nonce (24) | wrapped data key (32 + 16) | nonce (24) |
/// ciphertext + tag (16)`: this many bytes more than the plaintext.
pub const MEDIA_OVERHEAD: u64 = 8 + 24 + 48 + 24 + 16;

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypto(..)")
    }
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// Append the raw deflate (level 1) of `plain` to `out`: the same stream as
/// `miniz_oxide::deflate::compress_to_vec(plain, 1)`, on a compressor kept per thread: a new
/// one is ~300 KB of tables to allocate and free per payload (`_int_free` was 3 % of the
/// bench's seeding). `reset` still zeroes the hash tables, as a new compressor's allocation
/// did, so the `memset` remains.
fn deflate_into(plain: &[u8], out: &mut Vec<u8>) {
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
    };
    thread_local! {
        static DEFLATER: std::cell::RefCell<Option<Box<CompressorOxide>>> = const { std::cell::RefCell::new(None) };
    }
    DEFLATER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = slot.get_or_insert_with(|| {
            Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(1, 0, 0)))
        });
        compressor.reset();
        let start = out.len();
        out.resize(start + (plain.len() / 2).max(64), 0);
        let (mut input, mut at) = (plain, start);
        loop {
            let (status, read, written) = compress(compressor, input, &mut out[at..], TDEFLFlush::Finish);
            at += written;
            input = input.get(read..).unwrap_or_default();
            match status {
                TDEFLStatus::Done => break,
                // More room: the output filled up before the input ended.
                TDEFLStatus::Okay => {
                    let len = out.len();
                    out.resize(len * 2, 0);
                }
                // Only for bad parameters or a compressor used after an error; start afresh.
                _ => {
                    out.truncate(start);
                    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(plain, 1));
                    *slot = None;
                    return;
                }
            }
        }
        out.truncate(at);
    });
}

impl Crypto {
    pub fn new(master: &[u8; 32]) -> Crypto {
        let aead_key = derive(master, b"beian/aead/v1");
        Crypto {
            aead: XChaCha20Poly1305::new((&aead_key).into()),
            index_key: derive(master, b"beian/blind-index/v1"),
            secret_key: derive(master, b"beian/secret-mac/v1"),
            media_mac_key: derive(master, b"beian/media-mac/v1"),
            media_kek: XChaCha20Poly1305::new((&derive(master, b"beian/media-kek/v1")).into()),
        }
    }

    /// Parse a hex master key (as kept in `secret.key` or `BEIAN_MASTER_KEY`).
    pub fn from_hex(s: &str) -> Result<Crypto, CryptoError> {
        let bytes = hex::decode(s.trim()).map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Crypto::new(&key))
    }

    /// A fresh random master key, hex encoded.
    pub fn generate_hex() -> String {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        hex::encode(key)
    }

    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), plain)
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if data.len() < 25 || data[0] != VERSION {
            return Err(CryptoError::Decrypt);
        }
        self.aead.decrypt(XNonce::from_slice(&data[1..25]), &data[25..]).map_err(|_| CryptoError::Decrypt)
    }

    /// Encrypt `plain` deflated first: `DEFLATED | raw deflate` inside the usual ciphertext. An
    /// application's JSON (about 2 KB) shrinks to half, and with it `filing_versions`, the
    /// largest table (1.3 of the 2.7 GB at a million mini programs). Compression before
    /// encryption reveals something about the content through the length only to someone who
    /// can make the platform compress their own data next to a secret and watch the size
    /// change; a payload holds only what its one submitter sent, and sizes are not shown.
    pub fn encrypt_compressed(&self, plain: &[u8]) -> Vec<u8> {
        let mut deflated = Vec::with_capacity(plain.len() / 2 + 8);
        deflated.push(DEFLATED);
        deflate_into(plain, &mut deflated);
        self.encrypt(&deflated)
    }

    /// Decrypt what [`Crypto::encrypt_compressed`] wrote, or a plaintext [`Crypto::encrypt`]
    /// wrote (data stored before payloads were compressed).
    pub fn decrypt_compressed(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let plain = self.decrypt(data)?;
        match plain.split_first() {
            Some((&DEFLATED, deflated)) => {
                miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_INFLATED)
                    .map_err(|_| CryptoError::Decrypt)
            }
            _ => Ok(plain),
        }
    }

    pub fn encrypt_str(&self, s: &str) -> Vec<u8> {
        self.encrypt(s.as_bytes())
    }

    pub fn decrypt_str(&self, data: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(data)?).map_err(|_| CryptoError::Decrypt)
    }

    /// Keyed blind index of an identifier (upper-cased, trimmed): equal inputs give equal
    /// indexes, and without the key the index reveals nothing.
    pub fn blind_index(&self, value: &str) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.index_key).expect("HMAC takes any key length");
        mac.update(value.trim().to_uppercase().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// Keyed MAC of a secret with a small value space (a 6-digit SMS code, the last 6
    /// characters of an ID number), bound to its context (`parts`, joined unambiguously):
    /// an unkeyed hash of such a value is reversed offline in seconds, this one is not
    /// without the master key. Prefixed `m1:` so stored values of the older unkeyed form
    /// can still be told apart (see [`Crypto::secret_matches`]).
    pub fn secret_mac(&self, parts: &[&str]) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.secret_key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        format!("m1:{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Whether `stored` is the MAC of `parts`, compared in constant time. `legacy` is the
    /// value's older unkeyed SHA-256 form, accepted for rows written before the MAC (they
    /// expire within a day).
    pub fn secret_matches(&self, stored: &str, parts: &[&str], legacy: impl FnOnce() -> String) -> bool {
        let want = if stored.starts_with("m1:") { self.secret_mac(parts) } else { legacy() };
        constant_time_eq(stored.as_bytes(), want.as_bytes())
    }
}

impl Crypto {
    /// The name of a media object: HMAC-SHA256 of its plaintext under the media sub-key, hex.
    pub fn media_digest(&self, plain: &[u8]) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.media_mac_key).expect("HMAC takes any key length");
        mac.update(plain);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Seal media bytes with a fresh data key of their own, wrapped by the media key; the
    /// object's name (its digest) is bound into both as associated data, so an object copied
    /// under another name does not open. Returns (digest, sealed bytes).
    pub fn seal_media(&self, plain: &[u8]) -> (String, Vec<u8>) {
        use chacha20poly1305::aead::Payload;
        let digest = self.media_digest(plain);
        let mut rng = rand::thread_rng();
        let (mut dek, mut wrap_nonce, mut nonce) = ([0u8; 32], [0u8; 24], [0u8; 24]);
        rng.fill_bytes(&mut dek);
        rng.fill_bytes(&mut wrap_nonce);
        rng.fill_bytes(&mut nonce);
        let aad = digest.as_bytes();
        let wrapped = self
            .media_kek
            .encrypt(XNonce::from_slice(&wrap_nonce), Payload { msg: &dek, aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let ct = XChaCha20Poly1305::new((&dek).into())
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(plain.len() + MEDIA_OVERHEAD as usize);
        out.extend_from_slice(MEDIA_MAGIC);
        out.extend_from_slice(&wrap_nonce);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        (digest, out)
    }

    /// Whether stored media bytes are sealed (else: a plain object from before encryption).
    pub fn is_sealed_media(stored: &[u8]) -> bool {
        stored.starts_with(MEDIA_MAGIC)
    }

    /// Open a sealed media object named `digest`, and check that its plaintext has that
    /// digest. A plain object is refused: callers decide what a plain object means.
    pub fn open_media(&self, digest: &str, stored: &[u8]) -> Result<Vec<u8>, CryptoError> {
        use chacha20poly1305::aead::Payload;
        if !Self::is_sealed_media(stored) || (stored.len() as u64) < MEDIA_OVERHEAD {
            return Err(CryptoError::Decrypt);
        }
        let aad = digest.as_bytes();
        let rest = &stored[MEDIA_MAGIC.len()..];
        let (wrap_nonce, rest) = rest.split_at(24);
        let (wrapped, rest) = rest.split_at(48);
        let (nonce, ct) = rest.split_at(24);
        let dek = self
            .media_kek
            .decrypt(XNonce::from_slice(wrap_nonce), Payload { msg: wrapped, aad })
            .map_err(|_| CryptoError::Decrypt)?;
        let dek: [u8; 32] = dek.try_into().map_err(|_| CryptoError::Decrypt)?;
        let plain = XChaCha20Poly1305::new((&dek).into())
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CryptoError::Decrypt)?;
        if !constant_time_eq(self.media_digest(&plain).as_bytes(), digest.as_bytes()) {
            return Err(CryptoError::Decrypt);
        }
        Ok(plain)
    }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An application payload as stored: its JSON, deflated and encrypted
/// ([`Crypto::encrypt_compressed`]).
pub(crate) fn seal_payload(crypto: &Crypto, p: &beian_core::payload::ApplyPayload) -> crate::Result<Vec<u8>> {
    let json = serde_json::to_vec(p).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
    Ok(crypto.encrypt_compressed(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_seal_round_trip_dedupes_and_refuses_swaps() {
        let c = Crypto::new(&[7u8; 32]);
        let photo = b"\xFF\xD8\xFF a photo of an ID card";
        let (d1, s1) = c.seal_media(photo);
        let (d2, s2) = c.seal_media(photo);
        assert_eq!(d1, d2, "identical files share a name");
        assert_ne!(s1, s2, "each object has its own data key");
        assert_eq!(s1.len() as u64, photo.len() as u64 + MEDIA_OVERHEAD);
        assert_ne!(d1, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(photo)), "not a plain hash");
        assert_eq!(c.open_media(&d1, &s1).expect("opens"), photo);
        let (other, _) = c.seal_media(b"another file");
        assert!(c.open_media(&other, &s1).is_err(), "an object under another name does not open");
        assert!(c.open_media(&d1, photo).is_err(), "a plain object is not sealed");
        assert!(Crypto::new(&[8u8; 32]).open_media(&d1, &s1).is_err(), "another key does not open it");
    }

    #[test]
    fn deflate_on_a_kept_compressor_writes_what_a_new_one_writes() {
        // Empty, tiny, a 2 KB application, incompressible and long inputs, one after the other
        // on the same thread's compressor (each must start from a clean state).
        let noise: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let app = r#"{"icp_subject":{"base_info":{"type":5,"name":"张三"}}}"#.repeat(40);
        let inputs: [&[u8]; 6] = [b"", b"a", app.as_bytes(), &noise, &noise[..70_000], app.as_bytes()];
        for (i, plain) in inputs.iter().enumerate() {
            let mut out = vec![7u8];
            deflate_into(plain, &mut out);
            assert_eq!(out[0], 7, "input {i}: the prefix is kept");
            assert_eq!(&out[1..], &miniz_oxide::deflate::compress_to_vec(plain, 1)[..], "input {i}");
            let back = miniz_oxide::inflate::decompress_to_vec(&out[1..]).expect("inflates");
            assert_eq!(&back[..], *plain, "input {i}");
        }
    }

    #[test]
    fn compressed_round_trip_reads_old_plaintexts_and_refuses_damage() {
        let c = Crypto::new(&[7u8; 32]);
        let json = r#"{"icp_subject":{"base_info":{"name":"深圳市某某科技有限公司","comment":"深圳市某某科技有限公司"}}}"#;
        let sealed = c.encrypt_compressed(json.as_bytes());
        assert_eq!(c.decrypt_compressed(&sealed).expect("opens"), json.as_bytes());
        // Repetitive JSON shrinks: the stored form is smaller than encrypting it plain.
        let long = json.repeat(20);
        assert!(c.encrypt_compressed(long.as_bytes()).len() * 3 < c.encrypt(long.as_bytes()).len());
        // Written before payloads were compressed: read as they are.
        assert_eq!(c.decrypt_compressed(&c.encrypt(json.as_bytes())).expect("old"), json.as_bytes());
        // A deflate stream that does not inflate, or another key: an error, not a panic.
        assert!(c.decrypt_compressed(&c.encrypt(&[DEFLATED, 0xff, 0xff, 0xff])).is_err());
        assert!(Crypto::new(&[8u8; 32]).decrypt_compressed(&sealed).is_err());
    }
}
