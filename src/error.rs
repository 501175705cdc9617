//! The domain error: a Cognito-style error kind plus a message meant for the
//! caller. Every protocol edge (native REST, Cognito JSON, OAuth) maps the kind
//! 1:1 to its own wire format; the message never carries SQL, stack traces or
//! secrets — internal causes are logged, not returned.

use std::fmt;

/// Stable error kinds. The string form (`code()`) is part of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidParameter,
    InvalidPassword,
    ResourceNotFound,
    UserNotFound,
    UsernameExists,
    AliasExists,
    NotAuthorized,
    UserNotConfirmed,
    PasswordResetRequired,
    CodeMismatch,
    ExpiredCode,
    CodeDeliveryFailure,
    LimitExceeded,
    TooManyRequests,
    TooManyFailedAttempts,
    /// Admin endpoints: missing or wrong admin key.
    Unauthenticated,
    Conflict,
    UnsupportedMediaType,
    PayloadTooLarge,
    MethodNotAllowed,
    NotFound,
    /// Hash pool or store saturated; retry later.
    ServiceUnavailable,
    Internal,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidParameter => "InvalidParameter",
            InvalidPassword => "InvalidPassword",
            ResourceNotFound => "ResourceNotFound",
            UserNotFound => "UserNotFound",
            UsernameExists => "UsernameExists",
            AliasExists => "AliasExists",
            NotAuthorized => "NotAuthorized",
            UserNotConfirmed => "UserNotConfirmed",
            PasswordResetRequired => "PasswordResetRequired",
            CodeMismatch => "CodeMismatch",
            ExpiredCode => "ExpiredCode",
            CodeDeliveryFailure => "CodeDeliveryFailure",
            LimitExceeded => "LimitExceeded",
            TooManyRequests => "TooManyRequests",
            TooManyFailedAttempts => "TooManyFailedAttempts",
            Unauthenticated => "Unauthenticated",
            Conflict => "Conflict",
            UnsupportedMediaType => "UnsupportedMediaType",
            PayloadTooLarge => "PayloadTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            NotFound => "NotFound",
            ServiceUnavailable => "TooManyRequests",
            Internal => "InternalError",
        }
    }

    /// The HTTP status that fits the kind on the native REST API.
    pub fn http_status(self) -> u16 {
        use ErrorKind::*;
        match self {
            InvalidParameter | InvalidPassword | CodeMismatch | ExpiredCode => 400,
            NotAuthorized | Unauthenticated => 401,
            UserNotConfirmed | PasswordResetRequired => 403,
            ResourceNotFound | UserNotFound | NotFound => 404,
            MethodNotAllowed => 405,
            UsernameExists | AliasExists | Conflict => 409,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            LimitExceeded | TooManyRequests | TooManyFailedAttempts => 429,
            ServiceUnavailable => 503,
            CodeDeliveryFailure => 502,
            Internal => 500,
        }
    }
}

/// A domain error. `message` is safe to show to the caller.
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Seconds the caller should wait (rate limits, saturation).
    pub retry_after: Option<u64>,
    /// Internal cause, logged and never returned.
    pub source: Option<anyhow::Error>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::ResourceNotFound, format!("{what} not found"))
    }
    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotAuthorized, message)
    }
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: "internal error".into(),
            retry_after: None,
            source: Some(source.into()),
        }
    }
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)?;
        if let Some(s) = &self.source {
            write!(f, " ({s:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut => Error {
                kind: ErrorKind::ServiceUnavailable,
                message: "the store is busy, retry later".into(),
                retry_after: Some(1),
                source: Some(e.into()),
            },
            // PostgreSQL's text cannot hold U+0000 (SQLSTATE 22021): input
            // that slipped past the edge's check is the caller's mistake.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
                Error::invalid(NUL_REFUSED)
            }
            _ => Error::internal(e),
        }
    }
}

/// The answer to text with a NUL character in it, on every surface.
pub const NUL_REFUSED: &str = "Text values must not contain NUL characters.";

/// Whether a JSON text holds a NUL character: the escape `\u0000` not
/// itself escaped (a raw NUL byte is not valid JSON and fails to parse).
pub fn json_has_nul(json: &[u8]) -> bool {
    const ESC: &[u8] = b"\\u0000";
    json.windows(ESC.len()).enumerate().any(|(i, w)| {
        w == ESC && json[..=i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
    })
}

#[cfg(test)]
mod nul_tests {
    use super::json_has_nul;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(json_has_nul(br#"{"u":"a\u0000b"}"#));
        assert!(json_has_nul(br#"["\u0000"]"#));
        assert!(json_has_nul(br#"{"u":"x\\\u0000"}"#), "\\\\ then \\u0000");
        assert!(
            !json_has_nul(br#"{"u":"\\u0000"}"#),
            "an escaped backslash, then text"
        );
        assert!(!json_has_nul(br#"{"u":"\u0041"}"#));
        assert!(!json_has_nul(b"{}"));
        assert!(!json_has_nul(b""));
    }
}
