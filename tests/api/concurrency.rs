//! Races resolve to exactly one winner.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn two_concurrent_sign_ups_of_one_username_have_one_winner() {
    let app = spawn_app().await;
    for round in 0..3 {
        let email = format!("race{round}@example.com");
        let (a, b) = tokio::join!(app.sign_up(&email, PASSWORD), app.sign_up(&email, PASSWORD));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let loser = if a.0 == 409 { a.1 } else { b.1 };
        assert_eq!(loser["code"], "UsernameExists");
    }
    // Free usernames too (a pool without email-as-username).
    let (_, p) = app
        .admin("POST", "/v1/admin/pools", Some(json!({"name": "u"})))
        .await;
    let pid = p["id"].as_str().unwrap();
    let (_, c) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{pid}/clients"),
            Some(json!({"name": "c"})),
        )
        .await;
    let body = json!({"client_id": c["client_id"], "username": "Zed", "password": PASSWORD, "attributes": {"email": "zed@example.com"}});
    let path = format!("/v1/pools/{pid}/signup");
    let results = futures_join_all((0..4).map(|_| app.post(&path, body.clone()))).await;
    assert_eq!(
        results.iter().filter(|r| r.0 == 200).count(),
        1,
        "{results:?}"
    );
    assert!(results.iter().filter(|r| r.0 != 200).all(|r| r.0 == 409));
}

#[tokio::test]
async fn s4_two_parallel_refreshes_of_one_token_have_one_winner() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("alice@example.com").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let results = futures_join_all((0..4).map(|_| app.refresh(rt))).await;
    let winners: Vec<_> = results.iter().filter(|r| r.0 == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().filter(|r| r.0 != 200).all(|r| r.0 == 401));
    // The race happened inside the grace window: the winner's token lives on.
    let next = winners[0].1["tokens"]["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(next).await.0, 200);
}

#[tokio::test]
async fn two_concurrent_confirmations_have_one_winner() {
    let app = spawn_app().await;
    app.sign_up("bob@example.com", PASSWORD).await;
    let code = app.last_code("bob@example.com").await;
    let (a, b) = tokio::join!(
        app.confirm("bob@example.com", &code),
        app.confirm("bob@example.com", &code)
    );
    let oks = [a.0, b.0].iter().filter(|s| **s == 200).count();
    assert_eq!(oks, 1, "{a:?} {b:?}");
}

/// `join_all` without pulling in the futures crate.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.collect();
    let mut out = Vec::with_capacity(handles.len());
    // Poll them all concurrently through a JoinSet-free select loop.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.unwrap()));
    out
}
