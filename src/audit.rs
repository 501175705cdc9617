//! The audit trail's context. The HTTP edge runs each request inside a
//! task-local `RequestContext` (IP, user agent, request id); a flow that
//! resolves a user notes its `sub`. Services read both when they record an
//! event, so no business signature carries transport details, and every
//! facade (native, Cognito JSON, OAuth) gets the same trail by setting the
//! same context.

use std::cell::RefCell;
use std::future::Future;

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
    static SUBJECT: RefCell<Option<String>>;
}

/// Runs `f` with the request's context.
pub async fn with_request<F: Future>(ctx: RequestContext, f: F) -> F::Output {
    REQUEST.scope(ctx, f).await
}

/// The current request's context (empty outside a request, e.g. the CLI).
pub fn request() -> RequestContext {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// Notes the user a flow is about (no-op outside `with_subject`).
pub fn note_subject(sub: &str) {
    let _ = SUBJECT.try_with(|s| *s.borrow_mut() = Some(sub.to_owned()));
}

/// Runs `f`, returning its output and the user it noted, if any.
pub async fn with_subject<F: Future>(f: F) -> (F::Output, Option<String>) {
    SUBJECT
        .scope(RefCell::new(None), async {
            let out = f.await;
            let sub = SUBJECT.with(|s| s.borrow().clone());
            (out, sub)
        })
        .await
}
