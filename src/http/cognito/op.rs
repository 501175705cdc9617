//! The Cognito operation table: how an operation is declared, decoded, run
//! and answered.
//!
//! Every operation is one typed function, `async fn(&AppState, Input) ->
//! Result<Output, Fault>` (or, for the admin ones, `async fn(&AppState,
//! &AdminCtx, Input) -> …`), whose `Input` and `Output` are serde structs in
//! the protocol's PascalCase. A file declares its operations in a table:
//!
//! ```ignore
//! pub(super) const OPS: &[Operation] = &[
//!     public!(UserPools, "SignUp", sign_up),
//!     admin!(UserPools, "AdminGetUser", admin_get_user),
//! ];
//! ```
//!
//! and `mod.rs` lists the tables. Decoding goes from the body's bytes to the
//! input struct and encoding from the output struct to bytes: no JSON tree in
//! between. An admin operation can only run with the `AdminCtx` that a passed
//! SigV4 check makes (`dispatch` checks the signature of every operation the
//! table marks `Admin`).

use super::Fault;
use crate::app::AppState;
use crate::audit::AdminCtx;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The two JSON APIs behind `POST /`, by their `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Api {
    /// `AWSCognitoIdentityProviderService.*`; admin calls sign for `cognito-idp`.
    UserPools,
    /// `AWSCognitoIdentityService.*`; admin calls sign for `cognito-identity`.
    Identity,
}

impl Api {
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Api::UserPools => "AWSCognitoIdentityProviderService.",
            Api::Identity => "AWSCognitoIdentityService.",
        }
    }

    /// The SigV4 service an admin call of this API is scoped to.
    pub(super) fn signing_service(self) -> &'static str {
        match self {
            Api::UserPools => "cognito-idp",
            Api::Identity => "cognito-identity",
        }
    }

    /// The API and operation name of an `X-Amz-Target`.
    pub(super) fn split(target: &str) -> Option<(Api, &str)> {
        [Api::UserPools, Api::Identity]
            .into_iter()
            .find_map(|api| target.strip_prefix(api.prefix()).map(|op| (api, op)))
    }
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Anyone (the operation authenticates its caller itself: a client id,
    /// a token, a session).
    Public,
    /// Only a caller that signed with an admin key (SigV4).
    Admin,
}

/// How an operation runs: the body's bytes in, the answer's bytes out.
pub(super) type Run = for<'a> fn(
    &'a AppState,
    Option<&'a AdminCtx>,
    &'a [u8],
) -> BoxFuture<'a, Result<Vec<u8>, Fault>>;

/// One row of the operation table.
pub(super) struct Operation {
    pub api: Api,
    pub name: &'static str,
    pub access: Access,
    pub run: Run,
}

/// A public operation: `public!(Api, "Name", handler)` where `handler` is
/// `async fn(&AppState, Input) -> Result<Output, Fault>`.
macro_rules! public {
    ($api:ident, $name:literal, $f:path) => {
        $crate::http::cognito::op::Operation {
            api: $crate::http::cognito::op::Api::$api,
            name: $name,
            access: $crate::http::cognito::op::Access::Public,
            run: |s, _admin, body| {
                Box::pin(async move {
                    let input = $crate::http::cognito::op::decode(body)?;
                    $crate::http::cognito::op::encode(&$f(s, input).await?)
                })
            },
        }
    };
}

/// An admin operation: `admin!(Api, "Name", handler)` where `handler` is
/// `async fn(&AppState, &AdminCtx, Input) -> Result<Output, Fault>`.
macro_rules! admin {
    ($api:ident, $name:literal, $f:path) => {
        $crate::http::cognito::op::Operation {
            api: $crate::http::cognito::op::Api::$api,
            name: $name,
            access: $crate::http::cognito::op::Access::Admin,
            run: |s, admin, body| {
                Box::pin(async move {
                    let admin = admin.ok_or_else($crate::http::cognito::op::not_signed)?;
                    let input = $crate::http::cognito::op::decode(body)?;
                    $crate::http::cognito::op::encode(&$f(s, admin, input).await?)
                })
            },
        }
    };
}

/// The operation named by an `X-Amz-Target`, from the tables `mod.rs` lists.
pub(super) fn find(api: Api, name: &str) -> Option<&'static Operation> {
    static INDEX: LazyLock<HashMap<(Api, &'static str), &'static Operation>> =
        LazyLock::new(|| {
            let mut m = HashMap::new();
            for table in super::TABLES {
                for op in table.iter() {
                    let clash = m.insert((op.api, op.name), op);
                    debug_assert!(clash.is_none(), "{} is declared twice", op.name);
                }
            }
            m
        });
    INDEX.get(&(api, name)).copied()
}

/// Decodes an operation's input from the body. A body that is not a JSON
/// object is a `SerializationException`; one that is, but does not fit the
/// input (a missing, unknown or mistyped member), `InvalidParameterException`
/// with serde's message (without its line and column).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Fault> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let not_object = || {
        Fault::new(
            "SerializationException",
            "The request body is not a JSON object",
        )
    };
    if first != Some(&b'{') {
        return Err(not_object());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            Fault::new("InvalidParameterException", without_position(&e))
        }
        _ => not_object(),
    })
}

/// serde's message without " at line L column C".
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_owned(),
        _ => text,
    }
}

/// Encodes an operation's answer.
pub(crate) fn encode<T: Serialize>(out: &T) -> Result<Vec<u8>, Fault> {
    serde_json::to_vec(out).map_err(|e| crate::error::Error::internal(e).into())
}

/// An admin operation reached without a passed signature check (dispatch
/// does not let that happen; this is the type's guarantee, not a path).
pub(crate) fn not_signed() -> Fault {
    Fault::new(
        "MissingAuthenticationTokenException",
        "Admin operations need AWS SigV4 credentials",
    )
}

/// The empty answer `{}` of operations that return nothing.
#[derive(Serialize)]
pub(super) struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct In {
        client_id: String,
    }

    #[test]
    fn decode_tells_a_broken_body_from_a_bad_member() {
        let i: In = decode(br#"{"ClientId":"x"}"#).unwrap();
        assert_eq!(i.client_id, "x");
        for body in [&b"[1]"[..], b"nope", b"{\"ClientId\":", b"\"s\""] {
            assert_eq!(
                decode::<In>(body).unwrap_err().kind,
                "SerializationException"
            );
        }
        let e = decode::<In>(br#"{"ClientId":"x","Other":1}"#).unwrap_err();
        assert_eq!(e.kind, "InvalidParameterException");
        assert!(!e.message.contains("line"), "{}", e.message);
        let e = decode::<In>(b"").unwrap_err();
        assert_eq!(e.kind, "InvalidParameterException");
        assert!(e.message.contains("ClientId"), "{}", e.message);
    }
}
