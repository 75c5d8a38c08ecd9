//! The AWS edge: one SSM Contacts client per region, built from the SDK's default chain, and
//! the translation of every SDK result into a classified [`SendOutcome`].
//!
//! The SDK's own retries are off: a retried 5xx could send a second code that no status
//! records. The controller owns every retry, and every retry is written down first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_ssmcontacts::Client;
use aws_sdk_ssmcontacts::config::retry::RetryConfig;
use aws_sdk_ssmcontacts::config::timeout::TimeoutConfig;
use aws_sdk_ssmcontacts::config::{Builder as ConfigBuilder, Region};
use aws_sdk_ssmcontacts::operation::RequestId;

use crate::api::arn::ChannelArn;
use crate::aws::assume::{AssumedRoles, RoleSession};
use crate::aws::classify::classify;
use crate::aws::code::ActivationCode;
use crate::aws::requests::AwsRequests;
use crate::rules::activation::{ChannelState, CheckOutcome};
use crate::rules::note::Call;
use crate::rules::outcome::{SendFailure, SendOutcome, Sent};

/// AWS has about 40 regions; the cap leaves room for every one of them and all partitions.
const MAX_CACHED_REGIONS: usize = 64;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// The whole call; past it the outcome is unknown, since the request may have left.
    pub call: Duration,
}

/// SSM Contacts clients, one per region, sharing the SDK configuration loaded at start-up.
pub struct SsmContacts {
    base: SdkConfig,
    timeouts: Timeouts,
    clients: Mutex<HashMap<String, Client>>,
    roles: AssumedRoles,
    requests: AwsRequests,
}

impl SsmContacts {
    /// Loads the default chain: credentials (IRSA web identity, EKS Pod Identity, env,
    /// profile), region and the endpoint override (`AWS_ENDPOINT_URL_SSM_CONTACTS` or
    /// `AWS_ENDPOINT_URL`).
    pub async fn from_env(timeouts: Timeouts) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(base, timeouts)
    }

    pub fn new(base: SdkConfig, timeouts: Timeouts) -> Self {
        Self {
            roles: AssumedRoles::new(base.clone(), timeouts.call),
            base,
            timeouts,
            clients: Mutex::default(),
            requests: AwsRequests::default(),
        }
    }

    /// Counts every request made from here on, STS AssumeRole included, into `requests`.
    #[must_use]
    pub fn counting(mut self, requests: AwsRequests) -> Self {
        self.roles = self.roles.counting(requests.clone());
        self.requests = requests;
        self
    }

    /// The region of the SDK's own chain (AWS_REGION, profile), used as the operator default.
    pub fn sdk_region(&self) -> Option<String> {
        self.base.region().map(ToString::to_string)
    }

    fn build_client(&self, region: &str, credentials: Option<Credentials>) -> Client {
        let mut builder = ConfigBuilder::from(&self.base);
        if let Some(credentials) = credentials {
            builder = builder.credentials_provider(credentials);
        }
        let config = builder
            .region(Region::new(region.to_owned()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.timeouts.connect)
                    .operation_timeout(self.timeouts.call)
                    .build(),
            )
            .build();
        Client::from_conf(config)
    }

    /// The client of `region`. Region names come from user-written specs, so the cache is
    /// capped: past [`MAX_CACHED_REGIONS`] a client is built for the one call.
    fn client(&self, region: &str) -> Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(region) {
            return client.clone();
        }
        let client = self.build_client(region, None);
        if clients.len() < MAX_CACHED_REGIONS {
            clients.insert(region.to_owned(), client.clone());
        }
        client
    }

    /// The client for one call: the operator's own credentials, or the object's assumed
    /// role (a failure to assume it is `AssumeRoleFailed`, and nothing reaches SSM Contacts).
    async fn client_as(
        &self,
        region: &str,
        role: Option<&RoleSession>,
    ) -> Result<Client, SendFailure> {
        match role {
            None => Ok(self.client(region)),
            Some(session) => {
                let credentials = self.roles.credentials(session, region).await?;
                Ok(self.build_client(region, Some(credentials)))
            }
        }
    }

    /// The client for sends to `region` as `role`, with the role assumed now (AssumeRole comes
    /// before the intent is written, so that the intent-to-answer window is one call long).
    pub async fn sender(&self, region: &str, role: Option<&RoleSession>) -> Sender {
        Sender {
            client: self.client_as(region, role).await,
            requests: self.requests.clone(),
        }
    }
}

/// A client ready to send, or why none could be had (nothing reaches SSM Contacts then).
pub struct Sender {
    client: Result<Client, SendFailure>,
    requests: AwsRequests,
}

impl Sender {
    /// Calls SendActivationCode once and classifies what happened.
    pub async fn send_activation_code(self, channel: &ChannelArn) -> SendOutcome {
        let result = self
            .client?
            .send_activation_code()
            .contact_channel_id(channel.as_str())
            .send()
            .await;
        let outcome = match result {
            Ok(output) => Ok(Sent {
                request_id: output.request_id().map(str::to_owned),
            }),
            Err(error) => Err(classify(error)),
        };
        self.requests
            .count_result(Call::SendActivationCode, &outcome);
        outcome
    }
}

impl SsmContacts {
    /// Calls GetContactChannel once: the channel's activation status and type.
    pub async fn get_contact_channel(
        &self,
        region: &str,
        channel: &ChannelArn,
        role: Option<&RoleSession>,
    ) -> CheckOutcome {
        let result = self
            .client_as(region, role)
            .await?
            .get_contact_channel()
            .contact_channel_id(channel.as_str())
            .send()
            .await;
        let outcome = match result {
            Ok(output) => Ok(ChannelState {
                activation_status: output
                    .activation_status()
                    .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
                channel_type: Some(output.r#type().as_str().to_owned()),
                request_id: output.request_id().map(str::to_owned),
            }),
            Err(error) => Err(classify(error)),
        };
        self.requests
            .count_result(Call::GetContactChannel, &outcome);
        outcome
    }

    /// Calls ActivateContactChannel once with `code`; AWS's request id on success. The code goes to AWS and nowhere else:
    /// errors are classified from AWS's answer, which does not echo it.
    pub async fn activate_contact_channel(
        &self,
        region: &str,
        channel: &ChannelArn,
        code: &ActivationCode,
        role: Option<&RoleSession>,
    ) -> Result<Option<String>, SendFailure> {
        let outcome = self
            .client_as(region, role)
            .await?
            .activate_contact_channel()
            .contact_channel_id(channel.as_str())
            .activation_code(code.expose())
            .send()
            .await
            .map(|output| output.request_id().map(str::to_owned))
            .map_err(classify);
        self.requests
            .count_result(Call::ActivateContactChannel, &outcome);
        outcome
    }
}
