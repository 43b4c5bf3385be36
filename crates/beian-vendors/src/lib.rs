//! Adapters to cloud vendors behind `beian-ports` contracts. Identity verification:
//! [`tencent::TencentFaceId`] (DetectAuth → GetDetectInfoEnhanced, TC3-HMAC-SHA256) and
//! [`aliyun::AliyunCloudauth`] (InitFaceVerify → DescribeFaceVerify, ACS3-HMAC-SHA256). Each
//! signer is tested against the vendor's published example; [`fakes`] are local stand-ins that
//! speak each vendor's documented JSON and check signatures, run as a separate process
//! (`beian-vendor-fakes`) by the tests. SMS: [`sms::AliyunSms`] and [`sms::TencentSms`] (SendSms on
//! each vendor's templates, through the [`sms::SmsTemplates`] registry). This crate never depends on `beian-service`.

pub mod acs3;
pub mod aliyun;
pub mod fakes;
pub mod oidc;
pub mod sms;
pub mod tc3;
pub mod tencent;

use std::time::Duration;

/// The HTTP client the adapters use: short timeouts, no redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// HMAC-SHA256 of `msg` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match hmac::Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Constant-time comparison of two signatures.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
