//! The gateway's object-key checkers: UTF-8 keys of at most 1,024 bytes are accepted; keys
//! over 1,024 bytes are `KeyTooLongError`, as S3 answers. Local buckets keep keys in an
//! index, so path tricks (`.`/`..`/empty segments, a leading `/`, NUL) are ordinary keys
//! there; upstream buckets refuse them with `InvalidArgument`.

use crate::{check, hostile_string};
use poolgate::gateway::{check_object_key, check_upstream_object_key};
use proptest::prelude::*;
use s3s::S3ErrorCode;

fn code(key: &str) -> Option<S3ErrorCode> {
    check_object_key(key).err().map(|e| e.code().clone())
}

fn upstream_code(key: &str) -> Option<S3ErrorCode> {
    check_upstream_object_key(key)
        .err()
        .map(|e| e.code().clone())
}

/// An ordinary segment: any non-NUL characters (no '/'), not "." or "..", 1..=`max` bytes.
fn segment(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._ -]{1,12}".boxed(),
        hostile_string(12).boxed(),
        prop::collection::vec(any::<char>(), 1..20)
            .prop_map(|c| c.into_iter().collect::<String>())
            .boxed(),
    ]
    .prop_map(move |s: String| {
        let s: String = s.chars().filter(|&c| c != '/' && c != '\0').collect();
        let mut out = String::new();
        for c in s.chars() {
            if out.len() + c.len_utf8() > max {
                break;
            }
            out.push(c);
        }
        out
    })
    .prop_filter("ordinary", |s| !s.is_empty() && s != "." && s != "..")
}

/// Ordinary keys within both limits (≤ 255 bytes per segment, ≤ 1,024 in all), with or
/// without a trailing '/' (a directory marker).
fn ordinary_key() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment(255), 1..12),
        any::<bool>(),
        prop::option::of(64usize..=255),
    )
        .prop_map(|(mut segments, dir, long)| {
            if let Some(n) = long {
                segments.push("é".repeat(n / 2));
            }
            let mut key = segments.join("/");
            while key.len() > 1023 {
                key.pop();
                key = key.trim_end_matches('/').to_owned();
            }
            if dir {
                key.push('/');
            }
            key
        })
        .prop_filter("ordinary after trimming", |k| {
            let body = k.strip_suffix('/').unwrap_or(k);
            !body.is_empty()
                && body
                    .split('/')
                    .all(|s| !s.is_empty() && s != "." && s != "..")
        })
}

#[test]
fn prop_s3_ordinary_keys_up_to_1024_bytes_are_accepted() {
    check("s3_key_ordinary", 512, ordinary_key(), |key| {
        prop_assert!(key.len() <= 1024);
        prop_assert_eq!(code(&key), None, "{:?}", key);
        prop_assert_eq!(upstream_code(&key), None, "{:?}", key);
        Ok(())
    });
    // The boundary itself, in 1-, 2- and 4-byte characters, segments of at most 255 bytes.
    for c in ["a", "é", "😀"] {
        let segment = c.repeat(255 / c.len());
        let mut key = [segment.as_str(); 4].join("/");
        match 1024 - key.len() {
            1 => key.push('/'),
            rest => key.push_str(&format!("/{}", "b".repeat(rest - 1))),
        }
        assert_eq!(key.len(), 1024);
        assert_eq!(code(&key), None, "{key}");
        assert_eq!(upstream_code(&key), None, "{key}");
    }
}

/// A trick inserted into an ordinary key: an upstream store or an HTTP stack could resolve it
/// elsewhere, so upstream buckets refuse it; local buckets take it as written.
#[test]
fn prop_s3_path_tricks_are_invalid_argument_upstream_and_keys_locally() {
    let trick = prop::sample::select(&["../", "./", "/", "\0", "..", "."][..]);
    let strategy = (ordinary_key(), trick, any::<prop::sample::Index>(), 0u8..4);
    check("s3_key_tricks", 512, strategy, |(key, trick, at, place)| {
        let body = key.trim_end_matches('/');
        let segments: Vec<&str> = body.split('/').collect();
        let i = at.index(segments.len());
        let bad = match place {
            // A segment replaced by "." or "..", or a trick put at its start ("../x", "./x",
            // "/x": an empty segment or a leading '/', "\0x").
            0 | 1 => {
                let mut s: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
                s[i] = match trick {
                    "." | ".." => trick.to_owned(),
                    _ => format!("{trick}{}", s[i]),
                };
                s.join("/")
            }
            2 => format!("/{body}"),
            _ => format!("{body}/{}", if trick == "\0" { "a\0" } else { ".." }),
        };
        let got = upstream_code(&bad);
        prop_assert!(
            got == Some(S3ErrorCode::InvalidArgument)
                || (got == Some(S3ErrorCode::KeyTooLongError) && bad.len() > 1024),
            "{:?} gave {:?}",
            bad,
            got
        );
        let local = code(&bad);
        prop_assert!(
            if bad.len() > 1024 {
                local == Some(S3ErrorCode::KeyTooLongError)
            } else {
                local.is_none()
            },
            "local {:?} gave {:?}",
            bad,
            local
        );
        Ok(())
    });
    for bad in [
        "/", "//", ".", "..", "a//b", "a/./b", "a/../b", "/a", "a\0b",
    ] {
        assert_eq!(
            upstream_code(bad),
            Some(S3ErrorCode::InvalidArgument),
            "{bad:?}"
        );
        assert_eq!(code(bad), None, "{bad:?}");
    }
    assert_eq!(code(""), Some(S3ErrorCode::InvalidArgument));
    assert_eq!(upstream_code(""), Some(S3ErrorCode::InvalidArgument));
}

/// Over 1,024 bytes is KeyTooLongError, however short the segments.
#[test]
fn prop_s3_keys_over_1024_bytes_are_key_too_long() {
    let strategy = (prop::collection::vec(segment(200), 1..40), 1025usize..4096);
    check("s3_key_too_long", 256, strategy, |(segments, len)| {
        let mut key = segments.join("/");
        while key.len() < len {
            key.push_str("/seg");
        }
        prop_assert_eq!(
            code(&key),
            Some(S3ErrorCode::KeyTooLongError),
            "{} bytes",
            key.len()
        );
        prop_assert_eq!(
            upstream_code(&key),
            Some(S3ErrorCode::KeyTooLongError),
            "{} bytes",
            key.len()
        );
        Ok(())
    });
}

/// A segment over 255 bytes within 1,024 bytes in all: refused only as too long (the file
/// system backend's name limit), never as anything else.
#[test]
fn prop_s3_long_segments_are_at_most_key_too_long() {
    let strategy = (segment(100), 256usize..=1000);
    check("s3_key_long_segment", 64, strategy, |(first, n)| {
        let key = format!("{first}/{}", "x".repeat(n.min(1023 - first.len())));
        let got = code(&key);
        prop_assert!(
            got.is_none() || got == Some(S3ErrorCode::KeyTooLongError),
            "{:?}",
            got
        );
        Ok(())
    });
}
