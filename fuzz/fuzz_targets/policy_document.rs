//! IAM policy documents from fuzzed JSON: a `PolicyError` with a message, or a document whose
//! canonical JSON parses back to itself and evaluates the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolgate::identity::policy::{Context, PolicyDocument, Request, Variables};

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match PolicyDocument::parse(&json) {
        Ok(doc) => {
            let again = PolicyDocument::parse(&doc.to_json()).expect("canonical form parses");
            assert_eq!(again, doc);
            let context: Context = [("s3:prefix".to_owned(), "a/b".to_owned())].into();
            let variables = Variables::identity("us-east-1:abc", "us-east-1:pool");
            for action in ["s3:GetObject", "s3:PutObject", "s3:ListBucket"] {
                let req = Request {
                    action,
                    resource: "arn:aws:s3:::bucket/us-east-1:abc/x",
                    context: &context,
                    variables: &variables,
                };
                assert_eq!(doc.evaluate(&req), again.evaluate(&req));
            }
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
});
