//! The client's one error type.

use serde::{Deserialize, Serialize};

/// A per-field validation error returned with `86202 apply icp filing fail`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hint {
    pub errcode: i64,
    pub errmsg: String,
    /// Dotted path of the offending field, e.g. `icp_subject.principal_info.certificate_photo_front`.
    pub err_field: String,
}

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with `errcode != 0`. `errmsg` is kept as sent (WeChat appends
    /// ` rid: …`); match on `errcode`, never on `errmsg`.
    #[error("errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String, hints: Vec<Hint> },
    /// The request could not be sent or the answer not read.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with a non-2xx status and no `errcode` in the body (WeChat always
    /// answers 200; this is a proxy, a wrong base URL or a crashed server).
    #[error("unexpected HTTP status {status}: {body}")]
    Status { status: u16, body: String },
    /// The answer (or an event) could not be understood.
    #[error("cannot decode answer: {0}")]
    Decode(String),
    /// An event push failed its signature check or could not be decrypted, or the
    /// EncodingAESKey is malformed.
    #[error("event crypto: {0}")]
    Crypt(#[from] beian_wxcrypt::WxCryptError),
}

impl Error {
    /// The WeChat errcode, for [`Error::Api`].
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Error::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// The per-field hints of an [`Error::Api`] (empty otherwise).
    pub fn hints(&self) -> &[Hint] {
        match self {
            Error::Api { hints, .. } => hints,
            _ => &[],
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
