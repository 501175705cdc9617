//! The one mapping from the services' errors to Cognito's exceptions: the
//! `__type` of each error kind, and the two renames Cognito makes by
//! operation (a rate-limited code operation, a missing user of an Admin*
//! operation), and the names of a failed admin signature.

use super::Fault;
use crate::error::{Error, ErrorKind};
use axum::http::StatusCode;

/// Cognito's exception names for the services' error kinds (all 400 but
/// internal errors, as Cognito answers).
impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        use ErrorKind::*;
        let name = match e.kind {
            InvalidParameter | PayloadTooLarge | UnsupportedMediaType | MethodNotAllowed => {
                "InvalidParameterException"
            }
            InvalidPassword => "InvalidPasswordException",
            ResourceNotFound | NotFound => "ResourceNotFoundException",
            UserNotFound => "UserNotFoundException",
            UsernameExists => "UsernameExistsException",
            AliasExists => "AliasExistsException",
            NotAuthorized | Unauthenticated => "NotAuthorizedException",
            UserNotConfirmed => "UserNotConfirmedException",
            PasswordResetRequired => "PasswordResetRequiredException",
            CodeMismatch => "CodeMismatchException",
            ExpiredCode => "ExpiredCodeException",
            CodeDeliveryFailure => "CodeDeliveryFailureException",
            LimitExceeded => "LimitExceededException",
            TooManyRequests | ServiceUnavailable => "TooManyRequestsException",
            TooManyFailedAttempts => "TooManyFailedAttemptsException",
            Conflict => "ResourceConflictException",
            Internal => {
                tracing::error!(error = %e.message, "internal error on the Cognito protocol");
                return Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    kind: "InternalErrorException".into(),
                    message: "Internal error".into(),
                };
            }
        };
        Fault::new(name, e.message)
    }
}

/// `InvalidParameterException` with a message.
pub(super) fn invalid(message: impl Into<String>) -> Fault {
    Fault::new("InvalidParameterException", message)
}

/// A required member that is absent.
pub(super) fn required<T>(v: Option<T>, name: &str) -> Result<T, Fault> {
    v.ok_or_else(|| invalid(format!("{name} is required")))
}

/// Operations that send or check a code (or change a password): their rate
/// limit is Cognito's LimitExceededException.
const CODE_OPERATIONS: &[&str] = &[
    "ConfirmSignUp",
    "ResendConfirmationCode",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "GetUserAttributeVerificationCode",
    "VerifyUserAttribute",
    "ChangePassword",
];

/// Cognito answers a rate-limited code operation with
/// LimitExceededException ("Attempt limit exceeded"), which apps catch by
/// that name; sign-in stays TooManyRequestsException.
pub(super) fn code_limit(op: &str, f: Fault) -> Fault {
    if f.kind == "TooManyRequestsException" && CODE_OPERATIONS.contains(&op) {
        Fault {
            kind: "LimitExceededException".into(),
            message: "Attempt limit exceeded, please try after some time.".into(),
            ..f
        }
    } else {
        f
    }
}

/// The services say "User not found" as a ResourceNotFound; Cognito has its
/// own exception for it on the Admin* user operations.
pub(super) fn user_not_found(e: impl Into<Fault>) -> Fault {
    let f = e.into();
    if f.kind == "ResourceNotFoundException" && f.message.starts_with("User not found") {
        Fault::new("UserNotFoundException", "User does not exist.")
    } else {
        f
    }
}

/// An app client this server does not have, in Cognito's words.
pub(super) fn no_client() -> Fault {
    Fault::new(
        "ResourceNotFoundException",
        "User pool client does not exist.",
    )
}

/// A real Cognito operation (or flow, challenge) not implemented here.
pub(super) fn not_supported(what: &str) -> Fault {
    Fault::new(
        "UnsupportedOperationException",
        format!("{what} is not supported by this server yet (see docs/compatibility.md)"),
    )
}

/// A failed SigV4 check of an admin operation, as AWS's endpoints name it.
pub(super) fn signature(e: crate::http::sigv4::SigError) -> Fault {
    let (kind, message) = match e {
        crate::http::sigv4::SigError::Missing => (
            "MissingAuthenticationTokenException",
            "Admin operations need AWS SigV4 credentials (access key id poolgate-admin, an admin API key as the secret)",
        ),
        crate::http::sigv4::SigError::UnknownKey => (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        crate::http::sigv4::SigError::Skew => (
            "InvalidSignatureException",
            "Signature expired: the request time is too far from the server's.",
        ),
        crate::http::sigv4::SigError::Unsigned(_) => (
            "InvalidSignatureException",
            "host, x-amz-date, content-type and x-amz-target must be among the signed headers.",
        ),
        crate::http::sigv4::SigError::Scope => (
            "InvalidSignatureException",
            "Credential should be scoped to this server's region and the operation's service (cognito-idp or cognito-identity).",
        ),
        _ => (
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ),
    };
    Fault::new(kind, message)
}
