//! The one error type of the service layer. Edges map it to their wire format.

use beian_core::rules::Hint;
use beian_core::state::TransitionError;
use beian_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A business refusal with a WeChat-style code and a Chinese message for people.
    #[error("{errmsg} (errcode {errcode})")]
    Refused { errcode: i64, errmsg: String },
    /// Field validation failed: `86202` with these hints.
    #[error("apply icp filing fail ({} hints)", .0.len())]
    Hints(Vec<Hint>),
    /// Something broke inside (database down, corrupt row). Logged, never shown verbatim.
    #[error("internal error: {0}")]
    Internal(String),
    /// A concurrent writer won; callers retry (internal, never escapes a use case).
    #[error("conflict: {0}")]
    Conflict(String),
}

impl ServiceError {
    pub fn refused(errcode: i64, errmsg: impl Into<String>) -> ServiceError {
        ServiceError::Refused { errcode, errmsg: errmsg.into() }
    }

    /// Refuse with the table's default message for `errcode`.
    pub fn code(errcode: i64) -> ServiceError {
        ServiceError::Refused {
            errcode,
            errmsg: beian_core::errcode::message(errcode).unwrap_or("请求被拒绝").to_string(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<beian_core::bounds::TooLong> for ServiceError {
    fn from(e: beian_core::bounds::TooLong) -> Self {
        ServiceError::Refused { errcode: e.errcode, errmsg: e.errmsg }
    }
}

impl From<TransitionError> for ServiceError {
    fn from(e: TransitionError) -> Self {
        ServiceError::Refused { errcode: e.errcode, errmsg: e.errmsg.to_string() }
    }
}
