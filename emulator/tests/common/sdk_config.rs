//! SDK configurations for clients of an emulator, the same in every test crate: static
//! credentials, an explicit region and endpoint, and no retries, so no test reads the
//! environment's credentials or touches instance metadata. Either service's client is
//! made from one (`Client::new(&config)`).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssmcontacts::config::{Credentials, SharedCredentialsProvider};
use ssm_contacts_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY};

/// The emulator's long-term key (the operator's own), under the provider name `name`.
pub fn own_key(name: &'static str) -> Credentials {
    Credentials::new(
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_SECRET_ACCESS_KEY,
        None,
        None,
        name,
    )
}

/// A config as the operator loads one, through aws-config's loader (which still reads the
/// shared config files for what is not set here). `timeout` bounds a whole call.
pub async fn loaded(
    endpoint: &str,
    region: &str,
    credentials: Credentials,
    timeout: Option<Duration>,
) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled());
    match timeout {
        Some(timeout) => loader.timeout_config(operation_timeout(timeout)),
        None => loader,
    }
    .load()
    .await
}

/// The same settings with no loader: nothing is read from the environment or from files.
pub fn built(
    endpoint: &str,
    region: &str,
    credentials: Credentials,
    timeout: Option<Duration>,
) -> SdkConfig {
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled());
    builder.set_timeout_config(timeout.map(operation_timeout));
    builder.build()
}

/// `built` for a us-east-1 client signing with the emulator's long-term key.
pub fn own_key_in_east(endpoint: &str, timeout: Option<Duration>) -> SdkConfig {
    built(endpoint, "us-east-1", own_key("emulator-test"), timeout)
}

fn operation_timeout(timeout: Duration) -> TimeoutConfig {
    TimeoutConfig::builder().operation_timeout(timeout).build()
}
