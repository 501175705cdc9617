//! One integration binary: the real app on port 0, each test with its own
//! database — a SQLite file by default, a fresh PostgreSQL schema when
//! `POOLGATE_TEST_DATABASE_URL` is set (CI runs the suite both ways).

mod helpers;

mod account;
mod admin;
mod admin_users;
mod audit;
mod authorize;
mod bad_input;
mod cli;
mod client_auth;
mod cognito;
mod concurrency;
mod config;
mod crash;
mod enumeration;
mod federation;
mod golden;
mod groups;
mod identity;
mod identity_linking;
mod layering;
mod limits;
mod mfa;
mod oauth;
mod ops;
mod passkeys;
mod resource_servers;
mod signin;
mod signup;
mod sms;
mod storage;
mod store_contract;
mod tokens;
mod transfer;
