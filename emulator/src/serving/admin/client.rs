//! A typed client of the admin API, for tests and the demo.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::api::{FaultId, RoleArnParam};
use crate::faults::chaos::{ChaosSpec, ChaosStatus};
use crate::faults::injected::{ActiveFault, FaultSpec, Quota};
use crate::model::journal::{JournalEntry, JournalFilter, JournalStats, OUTCOME_OK};
use crate::model::sessions::{StsSettings, StsSettingsUpdate};
use crate::model::state::{Channel, ChannelCode, SeedChannel};

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin request {method} {url} failed: {source}")]
    Transport {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("admin API answered {status} to {method} {url}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("admin API answer to {method} {url} is not the expected JSON: {source}")]
    Decode {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Talks to `/_emulator/` of one emulator. Body arguments take a value or a reference.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// `endpoint_url` as returned by `RunningEmulator::endpoint_url`, e.g. `http://127.0.0.1:4566`.
    pub fn new(endpoint_url: impl Into<String>) -> Self {
        let base = endpoint_url.into().trim_end_matches('/').to_string();
        // A proxy from the environment must never see loopback test traffic.
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { base, http }
    }

    pub async fn healthz(&self) -> Result<(), AdminError> {
        self.send(Method::GET, "healthz", |r| r).await.map(drop)
    }

    /// Creates a channel with no signature (its ARN verbatim when given).
    pub async fn seed_channel(
        &self,
        seed: impl Borrow<SeedChannel>,
    ) -> Result<Channel, AdminError> {
        self.json(Method::POST, "channels", |r| r.json(seed.borrow()))
            .await
    }

    pub async fn channels(&self) -> Result<Vec<Channel>, AdminError> {
        self.json(Method::GET, "channels", |r| r).await
    }

    /// One channel by ARN, if it exists.
    pub async fn channel(&self, arn: &str) -> Result<Option<Channel>, AdminError> {
        Ok(self.channels().await?.into_iter().find(|c| c.arn == arn))
    }

    /// The latest activation code of a channel (`None` before any send, or for an unknown
    /// channel): the only code ActivateContactChannel accepts.
    pub async fn last_code(&self, arn: &str) -> Result<Option<String>, AdminError> {
        match self.channel_code(arn).await {
            Ok(code) => Ok(code.code),
            Err(AdminError::Status { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /_emulator/channels/{arn}/code`: the latest code with the send count and the
    /// activation status; an unknown channel is a 404 [`AdminError::Status`].
    pub async fn channel_code(&self, arn: &str) -> Result<ChannelCode, AdminError> {
        self.json(Method::GET, &channel_path(arn, "code"), |r| r)
            .await
    }

    /// Activates the channel "from the console", with no code (`POST
    /// /_emulator/channels/{arn}/activate`); answers the channel.
    pub async fn activate_channel(&self, arn: &str) -> Result<Channel, AdminError> {
        self.json(Method::POST, &channel_path(arn, "activate"), |r| r)
            .await
    }

    /// Sets the channel back to `NOT_ACTIVATED` (`POST
    /// /_emulator/channels/{arn}/deactivate`); answers the channel.
    pub async fn deactivate_channel(&self, arn: &str) -> Result<Channel, AdminError> {
        self.json(Method::POST, &channel_path(arn, "deactivate"), |r| r)
            .await
    }

    pub async fn journal(&self) -> Result<Vec<JournalEntry>, AdminError> {
        self.journal_filtered(&JournalFilter::default()).await
    }

    pub async fn journal_filtered(
        &self,
        filter: &JournalFilter,
    ) -> Result<Vec<JournalEntry>, AdminError> {
        self.json(Method::GET, "journal", |r| r.query(filter)).await
    }

    /// How full the journal is; `dropped > 0` means counts from the journal are partial.
    pub async fn journal_stats(&self) -> Result<JournalStats, AdminError> {
        self.json(Method::GET, "journal/stats", |r| r).await
    }

    /// How many SendActivationCode calls for the channel succeeded (outcome `ok`),
    /// including those whose connection was then cut (DropAfterProcessing, chaos
    /// `cutAfterProcessing`): the codes the person received.
    pub async fn sends_for(&self, channel_arn: &str) -> Result<usize, AdminError> {
        let filter = JournalFilter {
            operation: Some("SendActivationCode".into()),
            channel: Some(channel_arn.into()),
            after_seq: None,
        };
        let entries = self.journal_filtered(&filter).await?;
        Ok(entries.iter().filter(|e| e.outcome == OUTCOME_OK).count())
    }

    /// [`Self::sends_for`] for every channel at once (channels with no send are absent).
    pub async fn sends_per_channel(&self) -> Result<BTreeMap<String, usize>, AdminError> {
        let filter = JournalFilter {
            operation: Some("SendActivationCode".into()),
            ..JournalFilter::default()
        };
        let mut sends = BTreeMap::new();
        for entry in self.journal_filtered(&filter).await? {
            if let (OUTCOME_OK, Some(arn)) = (entry.outcome.as_str(), entry.channel_arn) {
                *sends.entry(arn).or_insert(0) += 1;
            }
        }
        Ok(sends)
    }

    /// Injects a fault; returns its id.
    pub async fn inject_fault(&self, spec: impl Borrow<FaultSpec>) -> Result<u64, AdminError> {
        let created: FaultId = self
            .json(Method::POST, "faults", |r| r.json(spec.borrow()))
            .await?;
        Ok(created.id)
    }

    pub async fn faults(&self) -> Result<Vec<ActiveFault>, AdminError> {
        self.json(Method::GET, "faults", |r| r).await
    }

    pub async fn remove_fault(&self, id: u64) -> Result<(), AdminError> {
        self.send(Method::DELETE, &format!("faults/{id}"), |r| r)
            .await
            .map(drop)
    }

    pub async fn clear_faults(&self) -> Result<(), AdminError> {
        self.send(Method::DELETE, "faults", |r| r).await.map(drop)
    }

    /// Starts seeded random faults (replacing any chaos in force) at draw 0.
    pub async fn start_chaos(
        &self,
        spec: impl Borrow<ChaosSpec>,
    ) -> Result<ChaosStatus, AdminError> {
        self.json(Method::POST, "chaos", |r| r.json(spec.borrow()))
            .await
    }

    /// The chaos in force, with its draws and tally so far.
    pub async fn chaos(&self) -> Result<Option<ChaosStatus>, AdminError> {
        self.json(Method::GET, "chaos", |r| r).await
    }

    /// Stops chaos; returns where it had got to (`None` if none was in force).
    pub async fn stop_chaos(&self) -> Result<Option<ChaosStatus>, AdminError> {
        self.json(Method::DELETE, "chaos", |r| r).await
    }

    /// Sets (and refills) the SendActivationCode rate quota.
    pub async fn set_quota(&self, quota: impl Borrow<Quota>) -> Result<(), AdminError> {
        self.send(Method::PUT, "quota", |r| r.json(quota.borrow()))
            .await
            .map(drop)
    }

    pub async fn quota(&self) -> Result<Option<Quota>, AdminError> {
        self.json(Method::GET, "quota", |r| r).await
    }

    pub async fn clear_quota(&self) -> Result<(), AdminError> {
        self.send(Method::DELETE, "quota", |r| r).await.map(drop)
    }

    /// The role ARNs STS AssumeRole accepts, sorted.
    pub async fn roles(&self) -> Result<Vec<String>, AdminError> {
        self.json(Method::GET, "roles", |r| r).await
    }

    /// Lets STS AssumeRole assume `arn`; `false` when it already could. A string that is
    /// not a role ARN is a 400 [`AdminError::Status`].
    pub async fn add_role(&self, arn: &str) -> Result<bool, AdminError> {
        let param = RoleArnParam { arn: arn.into() };
        let response = self.send(Method::PUT, "roles", |r| r.json(&param)).await?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// Makes `arn` unassumable (AccessDenied) until added again or a reset; `false` when
    /// it was not assumable. Credentials already issued for it stay valid until they
    /// expire, as at AWS.
    pub async fn remove_role(&self, arn: &str) -> Result<bool, AdminError> {
        let param = RoleArnParam { arn: arn.into() };
        match self
            .send(Method::DELETE, "roles", |r| r.query(&param))
            .await
        {
            Ok(_) => Ok(true),
            Err(AdminError::Status { status, .. }) if status == StatusCode::NOT_FOUND => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The STS settings in force.
    pub async fn sts_settings(&self) -> Result<StsSettings, AdminError> {
        self.json(Method::GET, "sts", |r| r).await
    }

    /// Changes the settings given (e.g. `credential_lifetime_seconds: Some(1)` to make
    /// issued credentials expire after a second); answers the settings now in force.
    pub async fn set_sts_settings(
        &self,
        update: impl Borrow<StsSettingsUpdate>,
    ) -> Result<StsSettings, AdminError> {
        self.json(Method::PUT, "sts", |r| r.json(update.borrow()))
            .await
    }

    /// Forgets channels, contacts, journal, faults, chaos and quota, and goes back to the
    /// start-up roles and STS settings (issued credentials stay valid).
    pub async fn reset(&self) -> Result<(), AdminError> {
        self.send(Method::POST, "reset", |r| r).await.map(drop)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<T, AdminError> {
        let url = self.url(path);
        let response = self.send(method.clone(), path, build).await?;
        response.json().await.map_err(|source| AdminError::Decode {
            method,
            url,
            source,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<reqwest::Response, AdminError> {
        let url = self.url(path);
        let response = build(self.http.request(method.clone(), &url))
            .send()
            .await
            .map_err(|source| AdminError::Transport {
                method: method.clone(),
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(AdminError::Status {
            method,
            url,
            status,
            body,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_emulator/{path}", self.base)
    }
}

/// What stays as it is of an ARN in a path segment: the unreserved set and `:`.
const ARN_IN_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// `channels/{arn}/{action}` with the ARN as one percent-encoded path segment.
fn channel_path(arn: &str, action: &str) -> String {
    let encoded = utf8_percent_encode(arn, ARN_IN_PATH);
    format!("channels/{encoded}/{action}")
}

#[cfg(test)]
mod tests {
    use crate::serving::admin::client::channel_path;

    /// The ARN's slashes (and anything outside the unreserved set) are percent-encoded.
    #[test]
    fn channel_paths_encode_the_arn() {
        assert_eq!(
            channel_path(
                "arn:aws:ssm-contacts:us-east-1:1:contact-channel/a b/c",
                "code"
            ),
            "channels/arn:aws:ssm-contacts:us-east-1:1:contact-channel%2Fa%20b%2Fc/code"
        );
    }
}
