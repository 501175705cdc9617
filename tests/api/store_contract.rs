//! The store contract: the same suite against whichever backend this run
//! uses (SQLite by default, PostgreSQL with POOLGATE_TEST_DATABASE_URL).

use crate::helpers::*;
use poolgate::error::ErrorKind;
use poolgate::model::*;
use poolgate::store::{Backend, LinkGuard, LinkOutcome, SharedStore};

async fn store() -> (SharedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path()).await;
    let s = poolgate::store::connect(&url, 4, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    s.migrate().await.unwrap();
    announce(s.backend());
    (s, dir)
}

/// The backend this run's contract was asked to run on.
fn backend_asked_for() -> Backend {
    match std::env::var("POOLGATE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// Says once per run which backend the store contract runs on. It writes to
/// the process's stderr itself: the test harness captures `println!` and
/// `eprintln!` (shown only for failing tests), not direct writes, so the
/// line shows in a plain `cargo test` too.
fn announce(backend: Backend) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let how = match backend {
            Backend::Sqlite => "SQLite (set POOLGATE_TEST_DATABASE_URL for PostgreSQL)",
            Backend::Postgres => "PostgreSQL (POOLGATE_TEST_DATABASE_URL)",
        };
        let _ = writeln!(std::io::stderr(), "store contract: running on {how}");
    });
}

#[tokio::test]
async fn contract_runs_on_the_backend_asked_for() {
    let (s, _d) = store().await;
    assert_eq!(s.backend(), backend_asked_for());
}

fn pool(id: &str) -> Pool {
    Pool {
        id: id.into(),
        name: "p".into(),
        settings: PoolSettings::default(),
        created_at: 1,
        updated_at: 1,
    }
}

fn user(pool: &str, sub: &str, username: &str) -> User {
    let mut attributes = Attributes::new();
    attributes.insert("sub".into(), sub.into());
    User {
        pool_id: pool.into(),
        sub: sub.into(),
        username: username.into(),
        status: UserStatus::Unconfirmed,
        enabled: true,
        password_hash: Some("$argon2id$x".into()),
        srp_sealed: Some(vec![1, 2, 3]),
        attributes,
        created_at: 10,
        updated_at: 10,
    }
}

/// A live refresh family of user s1 in pool r_AAAAAAAAA.
fn family(id: &str) -> TokenFamily {
    TokenFamily {
        id: id.into(),
        pool_id: "r_AAAAAAAAA".into(),
        sub: "s1".into(),
        client_id: "c1".into(),
        auth_time: 1,
        created_at: 1,
        expires_at: 1000,
        revoked_at: None,
        scope: None,
    }
}

fn code(pool: &str, sub: &str, hash: &str) -> CodeRecord {
    CodeRecord {
        pool_id: pool.into(),
        sub: sub.into(),
        purpose: CodePurpose::Signup,
        code_hash: hash.into(),
        expires_at: 100,
        attempts: 0,
        created_at: 1,
    }
}

#[tokio::test]
async fn contract_pools_and_clients() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    assert_eq!(
        s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    s.insert_pool(&pool("r_BBBBBBBBB")).await.unwrap();
    let mut p = s.get_pool("r_AAAAAAAAA").await.unwrap().unwrap();
    assert_eq!(p.settings, PoolSettings::default());
    p.name = "renamed".into();
    p.settings.password_policy.min_length = 20;
    assert!(s.update_pool(&p).await.unwrap());
    assert_eq!(s.get_pool("r_AAAAAAAAA").await.unwrap().unwrap(), p);
    assert_eq!(s.list_pools(None, 1).await.unwrap()[0].id, "r_AAAAAAAAA");
    assert_eq!(
        s.list_pools(Some("r_AAAAAAAAA"), 10).await.unwrap().len(),
        1
    );

    let c = AppClient {
        id: "c1".into(),
        pool_id: "r_AAAAAAAAA".into(),
        name: "web".into(),
        secret_sealed: Some(vec![9; 40]),
        settings: ClientSettings::default(),
        created_at: 1,
        updated_at: 1,
    };
    s.insert_client(&c).await.unwrap();
    assert_eq!(
        s.insert_client(&c).await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    assert_eq!(s.get_client("r_AAAAAAAAA", "c1").await.unwrap().unwrap(), c);
    assert!(
        s.get_client("r_BBBBBBBBB", "c1").await.unwrap().is_none(),
        "scoped by pool"
    );
    assert_eq!(s.list_clients("r_AAAAAAAAA").await.unwrap().len(), 1);
    assert!(s.delete_client("r_AAAAAAAAA", "c1", 1).await.unwrap());
    assert!(!s.delete_client("r_AAAAAAAAA", "c1", 1).await.unwrap());
}

#[tokio::test]
async fn contract_users_aliases_and_atomic_creation() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    let alias = |v: &str| Alias {
        kind: "email".into(),
        value: v.into(),
    };
    let u1 = user("r_AAAAAAAAA", "s1", "alice");
    s.create_user(
        &u1,
        &[alias("a@x.io")],
        Some(&code("r_AAAAAAAAA", "s1", "h1")),
    )
    .await
    .unwrap();
    assert_eq!(s.get_user("r_AAAAAAAAA", "s1").await.unwrap().unwrap(), u1);
    assert_eq!(
        s.get_user_by_username("r_AAAAAAAAA", "alice")
            .await
            .unwrap()
            .unwrap()
            .sub,
        "s1"
    );
    assert_eq!(
        s.find_alias("r_AAAAAAAAA", "email", "a@x.io")
            .await
            .unwrap()
            .as_deref(),
        Some("s1")
    );
    assert_eq!(
        s.get_user_by_alias("r_AAAAAAAAA", "email", "a@x.io")
            .await
            .unwrap()
            .unwrap(),
        u1
    );
    assert!(
        s.get_user_by_alias("r_AAAAAAAAA", "email", "b@x.io")
            .await
            .unwrap()
            .is_none()
    );

    // A taken username, or a taken alias, creates nothing at all.
    let e = s
        .create_user(
            &user("r_AAAAAAAAA", "s2", "alice"),
            &[alias("b@x.io")],
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UsernameExists);
    let e = s
        .create_user(
            &user("r_AAAAAAAAA", "s3", "bob"),
            &[alias("a@x.io")],
            Some(&code("r_AAAAAAAAA", "s3", "h3")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AliasExists);
    assert!(
        s.get_user("r_AAAAAAAAA", "s3").await.unwrap().is_none(),
        "rolled back"
    );
    assert!(
        s.find_alias("r_AAAAAAAAA", "email", "b@x.io")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.count_users("r_AAAAAAAAA").await.unwrap(), 1);

    let mut u = u1.clone();
    u.status = UserStatus::Confirmed;
    u.enabled = false;
    u.attributes.insert("given_name".into(), "Ålice 🚀".into());
    u.updated_at = 11;
    assert!(s.update_user(&u).await.unwrap());
    assert_eq!(s.get_user("r_AAAAAAAAA", "s1").await.unwrap().unwrap(), u);
    assert_eq!(
        s.user_aliases("r_AAAAAAAAA", "s1").await.unwrap(),
        vec![alias("a@x.io")]
    );

    for i in 0..5 {
        s.create_user(
            &user("r_AAAAAAAAA", &format!("t{i}"), &format!("user{i}")),
            &[],
            None,
        )
        .await
        .unwrap();
    }
    let page1 = s.list_users("r_AAAAAAAAA", None, None, 3).await.unwrap();
    let page2 = s
        .list_users("r_AAAAAAAAA", None, Some(&page1[2].sub), 3)
        .await
        .unwrap();
    assert_eq!(page1.len() + page2.len(), 6);

    assert!(s.delete_user("r_AAAAAAAAA", "s1").await.unwrap());
    assert!(
        s.find_alias("r_AAAAAAAAA", "email", "a@x.io")
            .await
            .unwrap()
            .is_none(),
        "aliases go with the user"
    );
    assert!(
        s.get_code("r_AAAAAAAAA", "s1", CodePurpose::Signup)
            .await
            .unwrap()
            .is_none(),
        "codes go with the user"
    );
}

#[tokio::test]
async fn contract_codes_and_confirmation() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    let mut u = user("r_AAAAAAAAA", "s1", "alice");
    u.attributes.insert("email".into(), "a@x.io".into());
    u.attributes.insert("email_verified".into(), "false".into());
    s.create_user(&u, &[], Some(&code("r_AAAAAAAAA", "s1", "h1")))
        .await
        .unwrap();
    assert_eq!(
        s.bump_code_attempts("r_AAAAAAAAA", "s1", CodePurpose::Signup)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.bump_code_attempts("r_AAAAAAAAA", "s1", CodePurpose::Signup)
            .await
            .unwrap(),
        2
    );
    // Replacing resets the attempts.
    s.put_code(&code("r_AAAAAAAAA", "s1", "h2")).await.unwrap();
    let c = s
        .get_code("r_AAAAAAAAA", "s1", CodePurpose::Signup)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.code_hash.as_str(), c.attempts), ("h2", 0));

    let alias = [Alias {
        kind: "email".into(),
        value: "a@x.io".into(),
    }];
    let verified = ["email".to_owned()];
    assert!(
        !s.confirm_signup("r_AAAAAAAAA", "s1", "h1", &alias, &verified, 5)
            .await
            .unwrap(),
        "old code is dead"
    );
    assert!(
        s.confirm_signup("r_AAAAAAAAA", "s1", "h2", &alias, &verified, 5)
            .await
            .unwrap()
    );
    assert!(
        !s.confirm_signup("r_AAAAAAAAA", "s1", "h2", &alias, &verified, 5)
            .await
            .unwrap(),
        "single use"
    );
    let u = s.get_user("r_AAAAAAAAA", "s1").await.unwrap().unwrap();
    assert_eq!(u.status, UserStatus::Confirmed);
    assert_eq!(u.attributes["email_verified"], "true");
    assert_eq!(
        s.find_alias("r_AAAAAAAAA", "email", "a@x.io")
            .await
            .unwrap()
            .as_deref(),
        Some("s1")
    );
}

#[tokio::test]
async fn contract_password_reset_is_atomic_and_single_use() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    let mut u = user("r_AAAAAAAAA", "s1", "alice");
    u.status = UserStatus::ResetRequired;
    s.create_user(&u, &[], None).await.unwrap();
    let fam = family("f1");
    s.create_family(&fam, "h").await.unwrap();
    s.put_code(&CodeRecord {
        purpose: CodePurpose::ResetPassword,
        ..code("r_AAAAAAAAA", "s1", "r1")
    })
    .await
    .unwrap();
    assert!(
        !s.reset_password(
            "r_AAAAAAAAA",
            "s1",
            "wrong",
            "$new",
            None,
            UserStatus::Confirmed,
            5
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.get_user("r_AAAAAAAAA", "s1")
            .await
            .unwrap()
            .unwrap()
            .status,
        UserStatus::ResetRequired,
        "nothing changed"
    );
    assert!(
        s.reset_password(
            "r_AAAAAAAAA",
            "s1",
            "r1",
            "$new",
            Some(&[9u8, 9][..]),
            UserStatus::Confirmed,
            5
        )
        .await
        .unwrap()
    );
    assert!(
        !s.reset_password(
            "r_AAAAAAAAA",
            "s1",
            "r1",
            "$newer",
            None,
            UserStatus::Confirmed,
            6
        )
        .await
        .unwrap(),
        "single use"
    );
    let after = s.get_user("r_AAAAAAAAA", "s1").await.unwrap().unwrap();
    assert_eq!(
        (
            after.status,
            after.password_hash.as_deref(),
            after.srp_sealed.as_deref()
        ),
        (UserStatus::Confirmed, Some("$new"), Some(&[9u8, 9][..])),
        "the SRP verifier changes with the password, in the same transaction"
    );
    assert_eq!(
        s.get_family("f1").await.unwrap().unwrap().revoked_at,
        Some(5),
        "sessions revoked with the reset"
    );
}

#[tokio::test]
async fn contract_refresh_families_rotate_once_and_revoke() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    let fam = family("f1");
    let t = |h: &str| RefreshTokenRecord {
        token_hash: h.into(),
        family_id: "f1".into(),
        created_at: 1,
        used_at: None,
    };
    s.create_family(&fam, "h1").await.unwrap();
    let (rec, f) = s.get_refresh_token("h1").await.unwrap().unwrap();
    assert_eq!((rec, f), (t("h1"), fam.clone()));
    let session = s.get_refresh_session("h1").await.unwrap().unwrap();
    assert_eq!(
        (session.token, session.family, session.user, session.groups),
        (
            t("h1"),
            fam.clone(),
            user("r_AAAAAAAAA", "s1", "alice"),
            vec![]
        )
    );
    assert!(s.get_refresh_session("nope").await.unwrap().is_none());
    assert!(s.rotate_refresh_token("h1", &t("h2"), 5).await.unwrap());
    assert!(
        !s.rotate_refresh_token("h1", &t("h3"), 6).await.unwrap(),
        "only one rotation wins"
    );
    assert!(s.get_refresh_token("h3").await.unwrap().is_none());
    assert_eq!(
        s.get_refresh_token("h1").await.unwrap().unwrap().0.used_at,
        Some(5)
    );
    assert!(s.revoke_family("f1", 7).await.unwrap());
    assert!(!s.revoke_family("f1", 8).await.unwrap());
    assert_eq!(
        s.get_family("f1").await.unwrap().unwrap().revoked_at,
        Some(7)
    );
    let fam2 = TokenFamily {
        id: "f2".into(),
        ..fam.clone()
    };
    s.create_family(&fam2, "h9").await.unwrap();
    assert_eq!(
        s.revoke_user_families("r_AAAAAAAAA", "s1", 9)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn contract_keys_outbox_meta_and_pool_deletion() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    let k = SigningKeyRecord {
        kid: "k1".into(),
        pool_id: "r_AAAAAAAAA".into(),
        alg: SigningAlg::ES256,
        private_sealed: vec![1; 64],
        public_jwk: "{}".into(),
        status: "active".into(),
        created_at: 1,
        retire_after: None,
    };
    s.insert_key(&k).await.unwrap();
    assert!(s.set_key_status("k1", "active", Some(99)).await.unwrap());
    assert_eq!(
        s.list_keys("r_AAAAAAAAA").await.unwrap()[0].retire_after,
        Some(99)
    );

    for i in 0..3 {
        s.push_outbox(&OutboxMessage {
            id: format!("m{i}"),
            pool_id: Some("r_AAAAAAAAA".into()),
            channel: "email".into(),
            to: if i == 1 {
                "b@x.io".into()
            } else {
                "a@x.io".into()
            },
            subject: format!("s{i}"),
            body: "b".into(),
            created_at: i,
        })
        .await
        .unwrap();
    }
    let a = s.list_outbox(Some("a@x.io"), None, 10).await.unwrap();
    assert_eq!(
        a.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m2", "m0"],
        "newest first"
    );
    assert_eq!(
        s.list_outbox(None, Some("r_AAAAAAAAA"), 10)
            .await
            .unwrap()
            .len(),
        3
    );

    assert_eq!(s.meta_get_or_put("k", "v1").await.unwrap(), "v1");
    assert_eq!(
        s.meta_get_or_put("k", "v2").await.unwrap(),
        "v1",
        "first value wins"
    );
    s.ping().await.unwrap();
    let (applied, known) = s.schema_versions().await.unwrap();
    assert_eq!(applied, known);

    s.create_user(
        &user("r_AAAAAAAAA", "s1", "alice"),
        &[Alias {
            kind: "email".into(),
            value: "a@x.io".into(),
        }],
        None,
    )
    .await
    .unwrap();
    assert!(s.delete_pool("r_AAAAAAAAA").await.unwrap());
    assert!(s.get_user("r_AAAAAAAAA", "s1").await.unwrap().is_none());
    assert!(s.list_keys("r_AAAAAAAAA").await.unwrap().is_empty());
    assert!(
        s.find_alias("r_AAAAAAAAA", "email", "a@x.io")
            .await
            .unwrap()
            .is_none()
    );
    // The same id can be used again.
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
}

#[tokio::test]
async fn contract_groups_and_membership() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s2", "bob"), &[], None)
        .await
        .unwrap();
    let g = |name: &str, precedence: Option<i64>, role: Option<&str>| Group {
        pool_id: "r_AAAAAAAAA".into(),
        name: name.into(),
        description: Some(format!("{name} group")),
        precedence,
        role_arn: role.map(String::from),
        created_at: 1,
        updated_at: 1,
    };
    s.insert_group(&g("admins", Some(1), Some("arn:admin")))
        .await
        .unwrap();
    s.insert_group(&g("staff", Some(5), Some("arn:staff")))
        .await
        .unwrap();
    s.insert_group(&g("beta", None, None)).await.unwrap();
    assert_eq!(
        s.insert_group(&g("beta", None, None))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    for grp in ["beta", "staff", "admins"] {
        s.add_member("r_AAAAAAAAA", grp, "s1").await.unwrap();
    }
    s.add_member("r_AAAAAAAAA", "staff", "s1").await.unwrap(); // idempotent
    s.add_member("r_AAAAAAAAA", "staff", "s2").await.unwrap();
    let names = |v: Vec<Group>| v.into_iter().map(|g| g.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.groups_of_user("r_AAAAAAAAA", "s1").await.unwrap()),
        ["admins", "staff", "beta"],
        "precedence order, absent last"
    );
    assert_eq!(
        s.members_of_group("r_AAAAAAAAA", "staff", None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.members_of_group("r_AAAAAAAAA", "staff", Some("s1"), 10)
            .await
            .unwrap()[0]
            .sub,
        "s2"
    );
    assert_eq!(
        names(s.list_groups("r_AAAAAAAAA", None, 2).await.unwrap()),
        ["admins", "beta"]
    );

    // The refresh hot path reads the groups in the same round trip.
    let fam = family("f1");
    s.create_family(&fam, "h").await.unwrap();
    let session = s.get_refresh_session("h").await.unwrap().unwrap();
    assert_eq!(names(session.groups), ["admins", "staff", "beta"]);
    // So does the code exchange's user read.
    let (u, groups) = s
        .get_user_with_groups("r_AAAAAAAAA", "s1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.username.as_str(), names(groups)),
        (
            "alice",
            vec!["admins".to_string(), "staff".into(), "beta".into()]
        )
    );
    assert_eq!(s.get_user("r_AAAAAAAAA", "s1").await.unwrap().unwrap(), u);
    let (_, bobs) = s
        .get_user_with_groups("r_AAAAAAAAA", "s2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(bobs), ["staff"]);
    assert!(
        s.get_user_with_groups("r_AAAAAAAAA", "nobody")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.get_user_with_groups("r_BBBBBBBBB", "s1")
            .await
            .unwrap()
            .is_none(),
        "another pool's user is not this one"
    );

    // So does the sign-in's lookup, by username or by alias, with the
    // throttle counters of the caller's source.
    let by_name = s
        .sign_in_lookup("r_AAAAAAAAA", UserLookup::Username("alice"), "192.0.2.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.user, u);
    assert_eq!(names(by_name.groups), ["admins", "staff", "beta"]);
    assert_eq!(by_name.throttle, SigninThrottle::default());
    s.create_user(
        &user("r_AAAAAAAAA", "s3", "carol"),
        &[Alias {
            kind: "email".into(),
            value: "carol@example.com".into(),
        }],
        None,
    )
    .await
    .unwrap();
    let by_alias = s
        .sign_in_lookup(
            "r_AAAAAAAAA",
            UserLookup::Alias("email", "carol@example.com"),
            "-",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (by_alias.user.sub.as_str(), by_alias.groups.len()),
        ("s3", 0)
    );
    for miss in [
        UserLookup::Username("nobody"),
        UserLookup::Username("s1"),
        UserLookup::Alias("email", "nobody@example.com"),
        UserLookup::Alias("phone_number", "carol@example.com"),
    ] {
        assert!(
            s.sign_in_lookup("r_AAAAAAAAA", miss, "-")
                .await
                .unwrap()
                .is_none(),
            "{miss:?}"
        );
    }
    assert!(
        s.sign_in_lookup("r_BBBBBBBBB", UserLookup::Username("alice"), "-")
            .await
            .unwrap()
            .is_none(),
        "another pool's user is not this one"
    );

    let mut upd = g("staff", Some(0), Some("arn:staff2"));
    upd.updated_at = 2;
    assert!(s.update_group(&upd).await.unwrap());
    assert_eq!(
        s.get_group("r_AAAAAAAAA", "staff").await.unwrap().unwrap(),
        upd
    );
    assert!(s.remove_member("r_AAAAAAAAA", "staff", "s1").await.unwrap());
    assert!(!s.remove_member("r_AAAAAAAAA", "staff", "s1").await.unwrap());
    assert!(s.delete_group("r_AAAAAAAAA", "admins").await.unwrap());
    assert_eq!(
        names(s.groups_of_user("r_AAAAAAAAA", "s1").await.unwrap()),
        ["beta"],
        "membership goes with the group"
    );
    assert!(s.delete_user("r_AAAAAAAAA", "s2").await.unwrap());
    assert!(
        s.members_of_group("r_AAAAAAAAA", "staff", None, 10)
            .await
            .unwrap()
            .is_empty(),
        "and with the user"
    );
}

#[tokio::test]
async fn contract_attribute_verification_moves_the_alias_atomically() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    let alias = |v: &str| Alias {
        kind: "email".into(),
        value: v.into(),
    };
    s.create_user(&user("r_AAAAAAAAA", "s1", "s1"), &[alias("old@x.io")], None)
        .await
        .unwrap();
    s.create_user(
        &user("r_AAAAAAAAA", "s2", "s2"),
        &[alias("taken@x.io")],
        None,
    )
    .await
    .unwrap();
    let verify_code = |h: &str| CodeRecord {
        purpose: CodePurpose::VerifyEmail,
        ..code("r_AAAAAAAAA", "s1", h)
    };
    let mut attrs = Attributes::new();
    attrs.insert("email".into(), "new@x.io".into());

    // A taken new alias changes nothing, and the code survives.
    s.put_code(&verify_code("v1")).await.unwrap();
    let e = s
        .verify_attribute(
            "r_AAAAAAAAA",
            "s1",
            CodePurpose::VerifyEmail,
            "v1",
            Some(("email", Some("old@x.io"), "taken@x.io")),
            &attrs,
            5,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AliasExists);
    assert_eq!(
        s.find_alias("r_AAAAAAAAA", "email", "old@x.io")
            .await
            .unwrap()
            .as_deref(),
        Some("s1")
    );
    assert!(
        s.get_code("r_AAAAAAAAA", "s1", CodePurpose::VerifyEmail)
            .await
            .unwrap()
            .is_some(),
        "rolled back"
    );

    assert!(
        !s.verify_attribute(
            "r_AAAAAAAAA",
            "s1",
            CodePurpose::VerifyEmail,
            "wrong",
            None,
            &attrs,
            5
        )
        .await
        .unwrap()
    );
    assert!(
        s.verify_attribute(
            "r_AAAAAAAAA",
            "s1",
            CodePurpose::VerifyEmail,
            "v1",
            Some(("email", Some("old@x.io"), "new@x.io")),
            &attrs,
            6
        )
        .await
        .unwrap()
    );
    assert!(
        s.find_alias("r_AAAAAAAAA", "email", "old@x.io")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.find_alias("r_AAAAAAAAA", "email", "new@x.io")
            .await
            .unwrap()
            .as_deref(),
        Some("s1")
    );
    assert_eq!(
        s.get_user("r_AAAAAAAAA", "s1")
            .await
            .unwrap()
            .unwrap()
            .attributes["email"],
        "new@x.io"
    );
}

#[tokio::test]
async fn contract_challenge_sessions_are_taken_once() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    let x = AuthSession {
        id: "h1".into(),
        pool_id: "r_AAAAAAAAA".into(),
        client_id: "c1".into(),
        sub: "s1".into(),
        challenge: "NEW_PASSWORD_REQUIRED".into(),
        state: "{}".into(),
        created_at: 1,
        expires_at: 181,
    };
    s.insert_session(&x).await.unwrap();
    assert_eq!(s.get_session("h1").await.unwrap().unwrap(), x);
    let (a, b) = tokio::join!(s.take_session("h1"), s.take_session("h1"));
    assert_eq!(
        [a.unwrap().is_some(), b.unwrap().is_some()]
            .iter()
            .filter(|t| **t)
            .count(),
        1,
        "exactly one taker"
    );
    assert!(s.get_session("h1").await.unwrap().is_none());
    s.insert_session(&AuthSession {
        id: "h2".into(),
        ..x
    })
    .await
    .unwrap();
    assert!(s.delete_user("r_AAAAAAAAA", "s1").await.unwrap());
    assert!(
        s.get_session("h2").await.unwrap().is_none(),
        "sessions go with the user"
    );
}

#[tokio::test]
async fn contract_rate_limit_counters_are_atomic_and_windowed() {
    let (s, _d) = store().await;
    // Concurrent hits (as from many nodes) are each counted once.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let s = s.clone();
        set.spawn(async move { s.rate_hit("signin:ip:192.0.2.1", 600).await.unwrap() });
    }
    let hits = set.join_all().await;
    let mut sorted = hits.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=20).collect::<Vec<i64>>(), "{hits:?}");
    // Buckets are independent; a new window starts from one.
    assert_eq!(s.rate_hit("signin:ip:192.0.2.2", 600).await.unwrap(), 1);
    assert_eq!(s.rate_hit("signin:ip:192.0.2.1", 660).await.unwrap(), 1);
    // A node whose clock lags does not reset the newer window.
    assert_eq!(s.rate_hit("signin:ip:192.0.2.1", 600).await.unwrap(), 2);
    // Purging drops only windows older than the bound.
    assert_eq!(s.purge_rate_limits(660).await.unwrap(), 1);
    assert_eq!(s.rate_hit("signin:ip:192.0.2.1", 660).await.unwrap(), 3);

    // A pair: the shared bucket is spent only while the first is within
    // its budget, in one atomic step per caller.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let s = s.clone();
        set.spawn(async move {
            s.rate_hit_pair("signin:ip:198.51.100.7", 5, "signin:pool:p", 600)
                .await
                .unwrap()
        });
    }
    let mut pairs = set.join_all().await;
    pairs.sort();
    let firsts: Vec<i64> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(firsts, (1..=12).collect::<Vec<i64>>(), "{pairs:?}");
    for (first, second) in &pairs {
        assert_eq!(second.is_some(), *first <= 5, "{pairs:?}");
    }
    let mut seconds: Vec<i64> = pairs.iter().filter_map(|p| p.1).collect();
    seconds.sort();
    assert_eq!(seconds, (1..=5).collect::<Vec<i64>>(), "{pairs:?}");
    // Another caller still spends the shared bucket, from where it stands;
    // a new window resets both.
    assert_eq!(
        s.rate_hit_pair("signin:ip:198.51.100.8", 5, "signin:pool:p", 600)
            .await
            .unwrap(),
        (1, Some(6))
    );
    assert_eq!(
        s.rate_hit_pair("signin:ip:198.51.100.7", 5, "signin:pool:p", 660)
            .await
            .unwrap(),
        (1, Some(1))
    );
}

#[tokio::test]
async fn contract_sign_in_throttle_counts_per_source_and_per_account() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("local-east-1_Thr0ttle1"))
        .await
        .unwrap();
    let u = user("local-east-1_Thr0ttle1", "sub-t", "t");
    s.create_user(&u, &[], None).await.unwrap();
    let p = "local-east-1_Thr0ttle1";
    for _ in 0..3 {
        s.record_signin_failure(p, "sub-t", "192.0.2.1", &|n| n as i64 * 10, &|n| n as i64)
            .await
            .unwrap();
    }
    s.record_signin_failure(p, "sub-t", "192.0.2.2", &|n| n as i64 * 10, &|n| n as i64)
        .await
        .unwrap();
    let t = s.signin_failures(p, "sub-t", "192.0.2.1").await.unwrap();
    assert_eq!(
        t,
        SigninThrottle {
            account_failures: 4,
            account_locked_until: 40,
            source_failures: 3,
            source_locked_until: 3,
            known_at: 0
        }
    );
    let t = s.signin_failures(p, "sub-t", "198.51.100.1").await.unwrap();
    assert_eq!((t.account_failures, t.source_failures), (4, 0));
    // The sign-in lookup reads the same counters with the user.
    let lookup = |source: &'static str| {
        let s = s.clone();
        async move {
            s.sign_in_lookup(p, UserLookup::Username("t"), source)
                .await
                .unwrap()
                .unwrap()
                .throttle
        }
    };
    assert_eq!(
        lookup("192.0.2.1").await,
        s.signin_failures(p, "sub-t", "192.0.2.1").await.unwrap()
    );
    assert_eq!(
        lookup("192.0.2.2").await,
        SigninThrottle {
            account_failures: 4,
            account_locked_until: 40,
            source_failures: 1,
            source_locked_until: 1,
            known_at: 0
        }
    );
    assert_eq!(lookup("198.51.100.1").await, t);
    s.clear_signin_failures(p, "sub-t").await.unwrap();
    assert_eq!(
        s.signin_failures(p, "sub-t", "192.0.2.1").await.unwrap(),
        SigninThrottle::default()
    );
    // G2: a successful sign-in marks its source known; the lookup reads
    // the mark of its own source only, and a newer mark replaces it.
    s.note_signin_success(p, "sub-t", "192.0.2.1", 500)
        .await
        .unwrap();
    assert_eq!(lookup("192.0.2.1").await.known_at, 500);
    assert_eq!(lookup("192.0.2.2").await.known_at, 0);
    s.note_signin_success(p, "sub-t", "192.0.2.1", 900)
        .await
        .unwrap();
    assert_eq!(lookup("192.0.2.1").await.known_at, 900);
    // G3: unknown names count like accounts, per source and name-wide.
    for _ in 0..2 {
        s.record_name_failure(p, "name-k", "192.0.2.1", 100, &|n| n as i64 * 10, &|n| {
            n as i64
        })
        .await
        .unwrap();
    }
    let t = s.name_failures(p, "name-k", "192.0.2.1").await.unwrap();
    assert_eq!(
        (
            t.account_failures,
            t.account_locked_until,
            t.source_failures,
            t.source_locked_until
        ),
        (2, 20, 2, 2)
    );
    let t = s.name_failures(p, "name-k", "198.51.100.1").await.unwrap();
    assert_eq!((t.account_failures, t.source_failures), (2, 0));
    assert_eq!(
        s.name_failures(p, "other", "192.0.2.1").await.unwrap(),
        SigninThrottle::default()
    );
    // Purged once untouched and unlocked before the horizon.
    assert_eq!(s.purge_name_failures(50).await.unwrap(), 0);
    assert_eq!(s.purge_name_failures(200).await.unwrap(), 2);
    assert_eq!(
        s.name_failures(p, "name-k", "192.0.2.1").await.unwrap(),
        SigninThrottle::default()
    );
}

#[tokio::test]
async fn contract_resource_servers() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.insert_pool(&pool("r_BBBBBBBBB")).await.unwrap();
    let rs = |pool: &str, id: &str, scopes: &[&str]| ResourceServer {
        pool_id: pool.into(),
        identifier: id.into(),
        name: "API".into(),
        scopes: scopes
            .iter()
            .map(|n| ResourceServerScope {
                name: (*n).into(),
                description: format!("{n} access"),
            })
            .collect(),
        created_at: 1,
        updated_at: 1,
    };
    let a = rs("r_AAAAAAAAA", "https://a.example", &["read", "write"]);
    s.insert_resource_server(&a).await.unwrap();
    assert_eq!(
        s.insert_resource_server(&a).await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    s.insert_resource_server(&rs("r_AAAAAAAAA", "https://b.example", &[]))
        .await
        .unwrap();
    s.insert_resource_server(&rs("r_BBBBBBBBB", "https://a.example", &["x"]))
        .await
        .unwrap();
    assert_eq!(
        s.get_resource_server("r_AAAAAAAAA", "https://a.example")
            .await
            .unwrap()
            .unwrap(),
        a
    );
    let ids = |v: Vec<ResourceServer>| v.into_iter().map(|r| r.identifier).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .list_resource_servers("r_AAAAAAAAA", None, 10)
            .await
            .unwrap()),
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(
        ids(s
            .list_resource_servers("r_AAAAAAAAA", Some("https://a.example"), 10)
            .await
            .unwrap()),
        ["https://b.example"]
    );
    let mut changed = rs("r_AAAAAAAAA", "https://a.example", &["read"]);
    changed.name = "Renamed".into();
    changed.updated_at = 5;
    assert!(s.update_resource_server(&changed).await.unwrap());
    let got = s
        .get_resource_server("r_AAAAAAAAA", "https://a.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.name.as_str(), got.scopes.len(), got.created_at),
        ("Renamed", 1, 1)
    );
    assert!(
        !s.update_resource_server(&rs("r_AAAAAAAAA", "https://none.example", &[]))
            .await
            .unwrap()
    );
    assert!(
        s.delete_resource_server("r_AAAAAAAAA", "https://b.example")
            .await
            .unwrap()
    );
    assert!(
        !s.delete_resource_server("r_AAAAAAAAA", "https://b.example")
            .await
            .unwrap()
    );
    // A deleted pool takes its resource servers; other pools keep theirs.
    assert!(s.delete_pool("r_AAAAAAAAA").await.unwrap());
    assert!(
        s.get_resource_server("r_AAAAAAAAA", "https://a.example")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.list_resource_servers("r_BBBBBBBBB", None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn contract_i3_an_identitys_standing_and_credentials_epoch() {
    use poolgate::model::{IdentityPool, IdentityPoolSettings};
    let (s, _d) = store().await;
    s.insert_identity_pool(&IdentityPool {
        id: "r:pool".into(),
        name: "ids".into(),
        settings: IdentityPoolSettings::default(),
        created_at: 1,
        updated_at: 1,
    })
    .await
    .unwrap();
    for id in ["r:a", "r:b"] {
        s.link_logins("r:pool", id, true, &[], 2, LinkGuard::New)
            .await
            .unwrap();
    }
    assert_eq!(s.identity_standing("r:a").await.unwrap(), Some((false, 0)));
    assert!(s.bump_credentials_epoch("r:a").await.unwrap());
    assert!(s.bump_credentials_epoch("r:a").await.unwrap());
    assert_eq!(s.identity_standing("r:a").await.unwrap(), Some((false, 2)));
    assert_eq!(
        s.identity_standing("r:b").await.unwrap(),
        Some((false, 0)),
        "another identity's epoch does not move"
    );
    s.set_identity_disabled("r:a", Some(9)).await.unwrap();
    assert_eq!(s.identity_standing("r:a").await.unwrap(), Some((true, 2)));
    s.set_identity_disabled("r:a", None).await.unwrap();
    assert_eq!(s.identity_standing("r:a").await.unwrap(), Some((false, 2)));
    assert!(s.delete_identity("r:a").await.unwrap());
    assert_eq!(s.identity_standing("r:a").await.unwrap(), None);
    assert!(!s.bump_credentials_epoch("r:a").await.unwrap());
    assert_eq!(s.identity_standing("r:none").await.unwrap(), None);
}

#[tokio::test]
async fn contract_identities_list_unlink_and_delete() {
    use poolgate::model::{IdentityPool, IdentityPoolSettings};
    let (s, _d) = store().await;
    for id in ["r:pool-1", "r:pool-2"] {
        s.insert_identity_pool(&IdentityPool {
            id: id.into(),
            name: "ids".into(),
            settings: IdentityPoolSettings::default(),
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    }
    let login = |p: &str, sub: &str| (p.to_owned(), sub.to_owned());
    s.link_logins(
        "r:pool-1",
        "r:a",
        true,
        &[login("idp", "alice"), login("dev", "u1")],
        2,
        LinkGuard::New,
    )
    .await
    .unwrap();
    s.link_logins(
        "r:pool-1",
        "r:b",
        true,
        &[login("idp", "bob")],
        3,
        LinkGuard::New,
    )
    .await
    .unwrap();
    s.link_logins("r:pool-1", "r:c", true, &[], 4, LinkGuard::New)
        .await
        .unwrap();
    s.link_logins(
        "r:pool-2",
        "r:d",
        true,
        &[login("idp", "alice")],
        5,
        LinkGuard::New,
    )
    .await
    .unwrap();
    s.set_identity_disabled("r:c", Some(9)).await.unwrap();
    let ids = |v: Vec<poolgate::model::Identity>| {
        v.into_iter().map(|i| i.identity_id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s
            .list_identities("r:pool-1", None, 10, false)
            .await
            .unwrap()),
        ["r:a", "r:b", "r:c"]
    );
    assert_eq!(
        ids(s.list_identities("r:pool-1", None, 10, true).await.unwrap()),
        ["r:a", "r:b"],
        "disabled identities hidden on request"
    );
    assert_eq!(
        ids(s
            .list_identities("r:pool-1", Some("r:a"), 1, false)
            .await
            .unwrap()),
        ["r:b"]
    );

    assert_eq!(
        s.unlink_providers("r:a", &["dev".into(), "none".into()])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.identity_logins("r:a").await.unwrap(),
        [login("idp", "alice")]
    );
    assert_eq!(
        s.login_identity("r:pool-1", "dev", "u1").await.unwrap(),
        None,
        "an unlinked login is free"
    );

    assert!(s.delete_identity("r:a").await.unwrap());
    assert!(!s.delete_identity("r:a").await.unwrap());
    assert!(s.get_identity("r:a").await.unwrap().is_none());
    assert_eq!(
        s.login_identity("r:pool-1", "idp", "alice").await.unwrap(),
        None
    );
    assert_eq!(
        s.login_identity("r:pool-2", "idp", "alice")
            .await
            .unwrap()
            .as_deref(),
        Some("r:d"),
        "the same login in another pool is untouched"
    );
    // The login can be linked again (to a new identity).
    s.link_logins(
        "r:pool-1",
        "r:e",
        true,
        &[login("idp", "alice")],
        6,
        LinkGuard::New,
    )
    .await
    .unwrap();
}

/// Cognito's linking rule, held by the store inside the linking
/// transaction (I2): a guest takes logins only while it has none; an
/// identity with logins takes new ones only with one of its own as proof;
/// one subject per provider (but for admin-linked developer identifiers);
/// a login linked elsewhere is reported, and nothing is linked unless the
/// answer is `Linked`. Racing links to one guest have one winner.
#[tokio::test]
async fn i2_contract_linking_needs_a_proof_and_keeps_one_subject_per_provider() {
    use poolgate::model::{IdentityPool, IdentityPoolSettings};
    let (s, _d) = store().await;
    s.insert_identity_pool(&IdentityPool {
        id: "r:pool-1".into(),
        name: "ids".into(),
        settings: IdentityPoolSettings::default(),
        created_at: 1,
        updated_at: 1,
    })
    .await
    .unwrap();
    let login = |p: &str, sub: &str| (p.to_owned(), sub.to_owned());
    let link = |id: &'static str, logins: Vec<(String, String)>, guard: LinkGuard<'static>| {
        let s = s.clone();
        async move {
            s.link_logins("r:pool-1", id, false, &logins, 9, guard)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        s.link_logins(
            "r:pool-1",
            "r:victim",
            true,
            &[login("idp", "victim")],
            2,
            LinkGuard::New
        )
        .await
        .unwrap(),
        LinkOutcome::Linked
    );
    s.link_logins("r:pool-1", "r:guest", true, &[], 2, LinkGuard::New)
        .await
        .unwrap();

    // The attacker's unlinked login, no proof: refused, nothing linked.
    assert_eq!(
        link("r:victim", vec![login("idp", "attacker")], LinkGuard::Guest).await,
        LinkOutcome::NotProven
    );
    let stranger: &'static [(String, String)] = Box::leak(Box::new([login("other", "x")]));
    assert_eq!(
        link(
            "r:victim",
            vec![login("google", "attacker")],
            LinkGuard::ProvenBy(stranger)
        )
        .await,
        LinkOutcome::NotProven
    );
    assert_eq!(
        s.login_identity("r:pool-1", "idp", "attacker")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.login_identity("r:pool-1", "google", "attacker")
            .await
            .unwrap(),
        None
    );
    // Another subject of a provider the identity holds: refused, even
    // with a proof.
    let proof: &'static [(String, String)] = Box::leak(Box::new([login("idp", "victim")]));
    assert_eq!(
        link(
            "r:victim",
            vec![login("idp", "attacker")],
            LinkGuard::ProvenBy(proof)
        )
        .await,
        LinkOutcome::ProviderTaken
    );
    // A second provider with a proof: linked.
    assert_eq!(
        link(
            "r:victim",
            vec![login("google", "victim-g")],
            LinkGuard::ProvenBy(proof)
        )
        .await,
        LinkOutcome::Linked
    );
    // A login linked elsewhere cannot join.
    assert_eq!(
        link("r:guest", vec![login("idp", "victim")], LinkGuard::Guest).await,
        LinkOutcome::LoginTaken
    );
    assert_eq!(
        s.identity_logins("r:guest").await.unwrap(),
        Vec::<(String, String)>::new()
    );
    // Unknown identity, or one of another identity pool.
    assert_eq!(
        link("r:nobody", vec![login("idp", "n")], LinkGuard::Guest).await,
        LinkOutcome::NoIdentity
    );
    assert_eq!(
        s.link_logins(
            "r:pool-2",
            "r:guest",
            false,
            &[login("idp", "n")],
            9,
            LinkGuard::Guest
        )
        .await
        .unwrap(),
        LinkOutcome::NoIdentity
    );

    // Two racing upgrades of one guest with two subjects of one provider:
    // one wins, the other is refused, the guest holds one subject.
    let mut tasks = vec![];
    for who in ["racer-1", "racer-2", "racer-3", "racer-4"] {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.link_logins(
                "r:pool-1",
                "r:guest",
                false,
                &[("idp".to_owned(), who.to_owned())],
                9,
                LinkGuard::Guest,
            )
            .await
            .unwrap()
        }));
    }
    let mut outcomes = vec![];
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == LinkOutcome::Linked)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            LinkOutcome::Linked | LinkOutcome::NotProven | LinkOutcome::ProviderTaken
        )),
        "{outcomes:?}"
    );
    assert_eq!(s.identity_logins("r:guest").await.unwrap().len(), 1);

    // Admin-linked developer identifiers may repeat; the check lists
    // repeated providers (here only the developer one).
    assert_eq!(
        link("r:guest", vec![login("dev", "u1")], LinkGuard::Trusted).await,
        LinkOutcome::Linked
    );
    assert_eq!(
        link("r:guest", vec![login("dev", "u2")], LinkGuard::Trusted).await,
        LinkOutcome::Linked
    );
    assert_eq!(
        s.identities_with_repeated_providers(None).await.unwrap(),
        [(
            "r:pool-1".to_owned(),
            "r:guest".to_owned(),
            "dev".to_owned(),
            vec!["u1".to_owned(), "u2".to_owned()]
        )]
    );
    assert!(
        s.identities_with_repeated_providers(Some("r:pool-2"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// New families are written in groups (one statement for whatever is queued
/// together); each caller still gets its own answer: a taken id is
/// `Conflict`, a family of an unknown user an error, and neither takes the
/// rest of its group down with it.
#[tokio::test]
async fn contract_families_written_together_answer_each_caller() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    let token = |fid: &str, n: usize| format!("rt-{fid}-{n}");
    // 30 families, 10 of them started twice, and one for nobody, all at once.
    let mut tasks = vec![];
    for n in 0..41usize {
        let s = s.clone();
        let (fid, sub) = match n {
            0..30 => (format!("fam-{n}"), "s1"),
            30..40 => (format!("fam-{}", n - 30), "s1"),
            _ => ("fam-orphan".to_string(), "nobody"),
        };
        tasks.push(tokio::spawn(async move {
            let mut f = family(&fid);
            f.sub = sub.into();
            (fid.clone(), n, s.create_family(&f, &token(&fid, n)).await)
        }));
    }
    let mut won = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        let (fid, n, r) = t.await.unwrap();
        match r {
            Ok(()) => {
                assert!(won.insert(fid.clone(), n).is_none(), "{fid} started twice");
            }
            Err(e) if fid == "fam-orphan" => {
                assert_ne!(e.kind, ErrorKind::Conflict, "{e:?}");
            }
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Conflict, "{fid}: {e:?}");
                assert!(
                    !(10..30).contains(&n),
                    "only a started-twice family conflicts"
                );
            }
        }
    }
    assert_eq!(won.len(), 30, "every family started once: {won:?}");
    for (fid, n) in &won {
        let (t, f) = s
            .get_refresh_token(&format!("rt-{fid}-{n}"))
            .await
            .unwrap()
            .expect("the winner's first token");
        assert_eq!(
            (t.family_id.as_str(), f.id.as_str()),
            (fid.as_str(), fid.as_str())
        );
        assert_eq!(t.used_at, None);
    }
    // The losers' and the orphan's tokens were never written.
    for n in 0..41usize {
        let fid = match n {
            0..30 => format!("fam-{n}"),
            30..40 => format!("fam-{}", n - 30),
            _ => "fam-orphan".into(),
        };
        let written = s
            .get_refresh_token(&format!("rt-{fid}-{n}"))
            .await
            .unwrap()
            .is_some();
        assert_eq!(written, won.get(&fid) == Some(&n), "token {n} of {fid}");
    }
    assert!(s.get_family("fam-orphan").await.unwrap().is_none());
}

#[tokio::test]
async fn contract_family_ids_are_taken_once_and_sessions_expire() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    // Eight concurrent exchanges of one authorization code create its
    // family: exactly one succeeds, the others answer Conflict.
    let mut tasks = vec![];
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.create_family(&family("fam-code"), &format!("rt-code-{i}"))
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err(e) => assert_eq!(e.kind, ErrorKind::Conflict, "{e:?}"),
        }
    }
    assert_eq!(wins, 1, "one winner");
    // The losers left no refresh token behind.
    let mut found = 0;
    for i in 0..8 {
        found += s
            .get_refresh_token(&format!("rt-code-{i}"))
            .await
            .unwrap()
            .is_some() as usize;
    }
    assert_eq!(found, 1);

    // A family keeps its granted scope.
    let mut f = family("fam-1");
    f.scope = Some("openid email".into());
    s.create_family(&f, "rt1").await.unwrap();
    assert_eq!(
        s.get_family("fam-1")
            .await
            .unwrap()
            .unwrap()
            .scope
            .as_deref(),
        Some("openid email")
    );

    let session = |id: &str, expires_at: i64| LoginSession {
        id_hash: id.into(),
        pool_id: "r_AAAAAAAAA".into(),
        sub: "s1".into(),
        auth_time: 1,
        expires_at,
    };
    s.insert_login_session(&session("l1", 100)).await.unwrap();
    s.insert_login_session(&session("l2", 10)).await.unwrap();
    assert_eq!(
        s.get_login_session("l1").await.unwrap(),
        Some(session("l1", 100))
    );
    // Global sign-out ends the user's sign-in sessions with the tokens.
    s.insert_login_session(&session("l3", 100)).await.unwrap();
    s.revoke_user_families("r_AAAAAAAAA", "s1", 70)
        .await
        .unwrap();
    assert!(s.get_login_session("l3").await.unwrap().is_none());
    s.insert_login_session(&session("l4", 100)).await.unwrap();
    s.insert_login_session(&session("l5", 10)).await.unwrap();
    assert!(s.delete_login_session("l4").await.unwrap());
    assert!(!s.delete_login_session("l4").await.unwrap());
    // The purge drops what expired before the cut-off: session l5 (10),
    // not l6 (100).
    s.insert_login_session(&session("l6", 100)).await.unwrap();
    assert_eq!(s.purge_login_sessions(50).await.unwrap(), 1);
    assert!(s.get_login_session("l5").await.unwrap().is_none());
    assert!(s.get_login_session("l6").await.unwrap().is_some());
}

#[tokio::test]
async fn contract_identity_providers_links_and_federation_states() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    let provider = IdentityProvider {
        pool_id: "r_AAAAAAAAA".into(),
        name: "Corp".into(),
        provider_type: ProviderType::Oidc,
        settings: ProviderSettings {
            client_id: "rp".into(),
            issuer: Some("https://idp.example".into()),
            ..ProviderSettings::default()
        },
        secret_sealed: Some(vec![9, 8, 7]),
        created_at: 1,
        updated_at: 1,
    };
    s.insert_identity_provider(&provider).await.unwrap();
    assert_eq!(
        s.insert_identity_provider(&provider)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    let mut changed = provider.clone();
    changed.settings.scopes = vec!["openid".into()];
    changed.secret_sealed = None;
    changed.updated_at = 2;
    assert!(s.update_identity_provider(&changed).await.unwrap());
    assert_eq!(
        s.get_identity_provider("r_AAAAAAAAA", "Corp")
            .await
            .unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        s.list_identity_providers("r_AAAAAAAAA").await.unwrap(),
        vec![changed]
    );

    // Links: one user per subject; concurrent links, one winner.
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s2", "bob"), &[], None)
        .await
        .unwrap();
    let link = |sub: &str, subject: &str| UserIdentity {
        pool_id: "r_AAAAAAAAA".into(),
        provider: "Corp".into(),
        subject: subject.into(),
        sub: sub.into(),
        created_at: 5,
    };
    let mut tasks = vec![];
    for sub in ["s1", "s2", "s1", "s2"] {
        let (s, l) = (s.clone(), link(sub, "x-1"));
        tasks.push(tokio::spawn(async move { s.link_identity(&l).await }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err(e) => assert_eq!(e.kind, ErrorKind::Conflict),
        }
    }
    assert_eq!(wins, 1, "one winner");
    let owner = s
        .find_identity("r_AAAAAAAAA", "Corp", "x-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.identities_of_user("r_AAAAAAAAA", &owner).await.unwrap(),
        vec![link(&owner, "x-1")]
    );
    assert!(
        s.find_identity("r_AAAAAAAAA", "Other", "x-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.unlink_identity("r_AAAAAAAAA", "Corp", "x-1")
            .await
            .unwrap()
    );
    assert!(
        !s.unlink_identity("r_AAAAAAAAA", "Corp", "x-1")
            .await
            .unwrap()
    );
    // A deleted user takes its links along.
    s.link_identity(&link("s2", "x-2")).await.unwrap();
    s.delete_user("r_AAAAAAAAA", "s2").await.unwrap();
    assert!(
        s.find_identity("r_AAAAAAAAA", "Corp", "x-2")
            .await
            .unwrap()
            .is_none()
    );

    // Pending redirects: taken once, not after they expire, purged.
    let st = |id: &str, expires_at: i64| FederationState {
        id_hash: id.into(),
        pool_id: "r_AAAAAAAAA".into(),
        provider: "Corp".into(),
        binding_hash: "b".into(),
        state: "{}".into(),
        expires_at,
    };
    s.insert_federation_state(&st("f1", 100)).await.unwrap();
    s.insert_federation_state(&st("f2", 10)).await.unwrap();
    s.insert_federation_state(&st("f3", 10)).await.unwrap();
    let mut tasks = vec![];
    for _ in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.take_federation_state("f1", 50).await.unwrap()
        }));
    }
    let mut got = vec![];
    for t in tasks {
        got.extend(t.await.unwrap());
    }
    assert_eq!(got, vec![st("f1", 100)], "exactly one taker");
    assert!(s.take_federation_state("f2", 50).await.unwrap().is_none());
    s.purge_login_sessions(50).await.unwrap();
    assert!(s.take_federation_state("f3", 5).await.unwrap().is_none());

    assert!(
        s.delete_identity_provider("r_AAAAAAAAA", "Corp")
            .await
            .unwrap()
    );
    assert!(
        !s.delete_identity_provider("r_AAAAAAAAA", "Corp")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn contract_totp_steps_are_used_once_and_mfa_rows_go_with_their_user() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    assert!(s.get_user_mfa("r_AAAAAAAAA", "s1").await.unwrap().is_none());
    let m = UserMfa {
        pool_id: "r_AAAAAAAAA".into(),
        sub: "s1".into(),
        totp_secret: Some(vec![1, 2, 3]),
        totp_verified: true,
        totp_device: Some("phone".into()),
        totp_last_step: 0,
        email_otp_enabled: true,
        sms_otp_enabled: false,
        preferred: Some("SOFTWARE_TOKEN".into()),
        updated_at: 5,
    };
    s.put_user_mfa(&m).await.unwrap();
    assert_eq!(
        s.get_user_mfa("r_AAAAAAAAA", "s1").await.unwrap(),
        Some(m.clone())
    );
    // Eight concurrent uses of one step: one winner; older steps never.
    let mut tasks = vec![];
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.use_totp_step("r_AAAAAAAAA", "s1", 100).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap() as usize;
    }
    assert_eq!(wins, 1, "one winner");
    assert!(!s.use_totp_step("r_AAAAAAAAA", "s1", 99).await.unwrap());
    assert!(s.use_totp_step("r_AAAAAAAAA", "s1", 101).await.unwrap());
    // Rewriting the row keeps the step.
    let mut off = m.clone();
    off.totp_secret = None;
    off.totp_verified = false;
    off.preferred = None;
    s.put_user_mfa(&off).await.unwrap();
    let got = s.get_user_mfa("r_AAAAAAAAA", "s1").await.unwrap().unwrap();
    assert_eq!((got.totp_last_step, got.totp_verified), (101, false));
    s.delete_user("r_AAAAAAAAA", "s1").await.unwrap();
    assert!(s.get_user_mfa("r_AAAAAAAAA", "s1").await.unwrap().is_none());
}

#[tokio::test]
async fn contract_passkey_counters_only_move_forward_and_passkeys_go_with_their_user() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.create_user(&user("r_AAAAAAAAA", "s1", "alice"), &[], None)
        .await
        .unwrap();
    let c = WebAuthnCredential {
        pool_id: "r_AAAAAAAAA".into(),
        credential_id: "Y3JlZC0x".into(),
        sub: "s1".into(),
        name: Some("laptop".into()),
        passkey: "{}".into(),
        sign_count: 0,
        transports: vec!["internal".into(), "hybrid".into()],
        attachment: Some("platform".into()),
        created_at: 5,
        last_used_at: None,
    };
    assert!(s.insert_webauthn_credential(&c).await.unwrap());
    // One credential id per pool, whoever registers it.
    assert!(!s.insert_webauthn_credential(&c).await.unwrap());
    assert_eq!(
        s.webauthn_credentials_of("r_AAAAAAAAA", "s1")
            .await
            .unwrap(),
        vec![c.clone()]
    );
    // A counter of 0 (authenticators without one) is accepted while the
    // stored one is 0 too.
    assert!(
        s.use_webauthn_credential("r_AAAAAAAAA", "Y3JlZC0x", 0, "{\"a\":0}", 6)
            .await
            .unwrap()
    );
    // Eight concurrent uses of one counter value: one winner.
    let mut tasks = vec![];
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.use_webauthn_credential("r_AAAAAAAAA", "Y3JlZC0x", 7, "{\"a\":7}", 7)
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap() as usize;
    }
    assert_eq!(wins, 1, "one winner");
    // Backwards, equal and zero counters are refused from now on.
    for n in [6, 7, 0] {
        assert!(
            !s.use_webauthn_credential("r_AAAAAAAAA", "Y3JlZC0x", n, "{}", 8)
                .await
                .unwrap(),
            "{n}"
        );
    }
    let got = &s
        .webauthn_credentials_of("r_AAAAAAAAA", "s1")
        .await
        .unwrap()[0];
    assert_eq!(
        (got.sign_count, got.passkey.as_str(), got.last_used_at),
        (7, "{\"a\":7}", Some(7))
    );
    // Only the owner's delete removes it.
    assert!(
        !s.delete_webauthn_credential("r_AAAAAAAAA", "other", "Y3JlZC0x")
            .await
            .unwrap()
    );
    let mut second = c.clone();
    second.credential_id = "Y3JlZC0y".into();
    assert!(s.insert_webauthn_credential(&second).await.unwrap());
    assert!(
        s.delete_webauthn_credential("r_AAAAAAAAA", "s1", "Y3JlZC0x")
            .await
            .unwrap()
    );
    assert_eq!(
        s.webauthn_credentials_of("r_AAAAAAAAA", "s1")
            .await
            .unwrap()
            .len(),
        1
    );
    s.delete_user("r_AAAAAAAAA", "s1").await.unwrap();
    assert!(
        s.webauthn_credentials_of("r_AAAAAAAAA", "s1")
            .await
            .unwrap()
            .is_empty()
    );
}

fn cond(field: FilterField, op: FilterOp, value: &str) -> FilterCondition {
    FilterCondition {
        field,
        op,
        value: value.into(),
    }
}

fn attr(name: &str) -> FilterField {
    FilterField::Attribute(name.into())
}

/// The subs of the users `filter` lists in pool r_AAAAAAAAA, in order.
async fn filtered(s: &SharedStore, conditions: Vec<FilterCondition>) -> Vec<String> {
    let f = UserFilter { conditions };
    s.list_users("r_AAAAAAAAA", Some(&f), None, 60)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.sub)
        .collect()
}

#[tokio::test]
async fn contract_user_filter_matches_exactly_and_by_prefix_with_values_bound() {
    let (s, _d) = store().await;
    s.insert_pool(&pool("r_AAAAAAAAA")).await.unwrap();
    s.insert_pool(&pool("r_BBBBBBBBB")).await.unwrap();
    // `%`, `_` and `\` are literal in a prefix, and quotes are plain text:
    // f2 and f3 would match too if a wildcard or the escape leaked through.
    let tricky = r#"a%b_c\d"e'f"#;
    let users = [
        ("f1", "alice", tricky, "gold", UserStatus::Confirmed, true),
        (
            "f2",
            "alxce",
            r#"aXbYc\d"e'f"#,
            "gold",
            UserStatus::Confirmed,
            true,
        ),
        (
            "f3",
            "bob",
            r#"a%bXcZd"e'f"#,
            "silver",
            UserStatus::Unconfirmed,
            true,
        ),
        (
            "f4",
            "bobby",
            "plain@x.io",
            "gold",
            UserStatus::Confirmed,
            false,
        ),
    ];
    for (sub, name, email, tier, status, enabled) in users {
        let mut u = user("r_AAAAAAAAA", sub, name);
        u.attributes.insert("email".into(), email.into());
        u.attributes.insert("custom:tier".into(), tier.into());
        u.status = status;
        u.enabled = enabled;
        s.create_user(&u, &[], None).await.unwrap();
    }
    let mut other = user("r_BBBBBBBBB", "o1", "alice");
    other.attributes.insert("email".into(), tricky.into());
    s.create_user(&other, &[], None).await.unwrap();

    use FilterOp::{Equals, StartsWith};
    assert_eq!(filtered(&s, vec![]).await, ["f1", "f2", "f3", "f4"]);
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), Equals, tricky)]).await,
        ["f1"]
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), StartsWith, r#"a%b_c\d"e'"#)]).await,
        ["f1"]
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), StartsWith, "a%b_")]).await,
        ["f1"]
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), StartsWith, "a%")]).await,
        ["f1", "f3"]
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), StartsWith, "a_")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), StartsWith, r"a%b_c\")]).await,
        ["f1"]
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), StartsWith, "")]).await,
        ["f1", "f2", "f3", "f4"]
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("email"), Equals, "' OR '1'='1")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("custom:tier"), Equals, "gold")]).await,
        ["f1", "f2", "f4"]
    );
    assert_eq!(
        filtered(&s, vec![cond(attr("nickname"), StartsWith, "")]).await,
        Vec::<String>::new(),
        "an attribute the users lack matches nothing"
    );
    assert_eq!(
        filtered(&s, vec![cond(FilterField::Username, StartsWith, "al")]).await,
        ["f1", "f2"]
    );
    assert_eq!(
        filtered(&s, vec![cond(FilterField::Username, Equals, "bob")]).await,
        ["f3"]
    );
    assert_eq!(
        filtered(&s, vec![cond(FilterField::Status, Equals, "UNCONFIRMED")]).await,
        ["f3"]
    );
    assert_eq!(
        filtered(&s, vec![cond(FilterField::Status, StartsWith, "CONF")]).await,
        ["f1", "f2", "f4"]
    );
    assert_eq!(
        filtered(&s, vec![cond(FilterField::Enabled, Equals, "false")]).await,
        ["f4"]
    );
    assert_eq!(
        filtered(
            &s,
            vec![
                cond(attr("custom:tier"), Equals, "gold"),
                cond(FilterField::Username, StartsWith, "b"),
                cond(FilterField::Enabled, Equals, "false"),
            ]
        )
        .await,
        ["f4"],
        "every condition must hold"
    );

    let gold = UserFilter {
        conditions: vec![cond(attr("custom:tier"), Equals, "gold")],
    };
    let page1 = s
        .list_users("r_AAAAAAAAA", Some(&gold), None, 2)
        .await
        .unwrap();
    let page2 = s
        .list_users("r_AAAAAAAAA", Some(&gold), Some(&page1[1].sub), 2)
        .await
        .unwrap();
    let subs: Vec<&str> = page1.iter().chain(&page2).map(|u| u.sub.as_str()).collect();
    assert_eq!(subs, ["f1", "f2", "f4"]);
}
