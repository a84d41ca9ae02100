//! Adapters from the ports to the real AWS SDK clients. Locally the SDK reaches moto through
//! `AWS_ENDPOINT_URL`; the only emulator-specific switch is S3 path-style addressing.

mod dynamo;
mod notify;
mod s3;
mod secrets;
mod sqs;

pub use dynamo::{
    DynamoTaskStore, INDEXES, OPERATOR_PLAN_ATTRIBUTE, PRIMARY_KEY, TTL_ATTRIBUTE, decode_cursor,
};
pub use notify::{EventBridgeBus, PlatformApps, SnsPush, SqsWebhookOutbox};
pub use s3::S3VideoStore;
pub use secrets::{FROM_SECRETS, WithSecrets, with_secrets};
pub use sqs::SqsQueue;

use crate::runtime::config::Source;

/// The shared SDK configuration (region, credentials, endpoint) loaded once per cold start,
/// on the process's one HTTP client.
pub async fn sdk_config() -> Result<aws_config::SdkConfig, crate::runtime::net::NetError> {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::runtime::net::SdkHttp::new()?);
    Ok(from_lambda_env(loader, &crate::runtime::config::ProcessEnv)
        .load()
        .await)
}

/// Lambda gives every function its region and its role's credentials as environment
/// variables, the first place the default chains look. Read them from there when they are set:
/// the default chains would first build an STS client (for web identity) and an IMDS client
/// to never use them (0.8 ms of create-task's 6.8 ms cold start). Without them, the default
/// chains as before.
fn from_lambda_env(
    mut loader: aws_config::ConfigLoader,
    env: &impl Source,
) -> aws_config::ConfigLoader {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    let (region, credentials) = answered_by_env(env);
    if region {
        loader = loader.region(EnvironmentVariableRegionProvider::new());
    }
    if credentials {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader
}

/// Whether the environment names (the region, the credentials) by itself.
fn answered_by_env(env: &impl Source) -> (bool, bool) {
    let set = |name| env.optional(name).is_some();
    (
        set("AWS_REGION"),
        set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"),
    )
}

/// `S3_FORCE_PATH_STYLE`: the one emulator switch (moto serves path-style addresses).
pub fn path_style(src: &impl Source) -> bool {
    src.optional("S3_FORCE_PATH_STYLE")
        .is_some_and(|v| v == "true" || v == "1")
}

pub fn s3_client_for(sdk: &aws_config::SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An SDK failure: shown with its service code and message (not just "service error"), and
/// kept whole as the source.
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct SdkFailure {
    text: String,
    #[source]
    source: crate::ports::Cause,
}

pub(crate) fn sdk_error<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> crate::ports::Cause
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use std::error::Error as _;
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Box::new(SdkFailure {
        text,
        source: Box::new(err),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn only_what_the_environment_names_skips_a_default_chain() {
        type Vars = &'static [(&'static str, &'static str)];
        let cases: &[(Vars, (bool, bool))] = &[
            (&[], (false, false)),
            (&[("AWS_REGION", "eu-west-1")], (true, false)),
            (&[("AWS_REGION", " ")], (false, false)),
            (&[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")], (false, false)),
            (
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                    ("AWS_SECRET_ACCESS_KEY", ""),
                ],
                (false, false),
            ),
            (
                &[
                    ("AWS_REGION", "eu-west-1"),
                    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                    ("AWS_SECRET_ACCESS_KEY", "local-dummy"),
                ],
                (true, true),
            ),
        ];
        for (vars, expected) in cases {
            let env: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(super::answered_by_env(&env), *expected, "{vars:?}");
        }
    }
}
