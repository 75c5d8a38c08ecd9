//! A local emulator of AWS SSM Contacts (ssm-contacts 2021-05-03), with the STS AssumeRole
//! its clients use for cross-account calls, for tests and demos.
//!
//! It speaks the real wire protocols on one endpoint, so the unmodified AWS SDK and CLI
//! talk to it: SSM Contacts as awsJson1.1 on `POST /` with `X-Amz-Target:
//! SSMContacts.<Operation>` (errors as `__type` + members with
//! `x-amzn-RequestId`/`x-amzn-ErrorType`), STS as awsQuery (a form-encoded `POST /` with
//! `Action=AssumeRole`, XML answers). Both are SigV4-signed (signing names `ssm-contacts`
//! and `sts`) with a configured long-term key or with temporary credentials the emulator
//! issued (`ASIA...` key plus `X-Amz-Security-Token`).
//!
//! A wire call flows `server` (hyper accept loop) -> `handler` (read, pick the protocol,
//! `auth` over `sigv4`, `faults`, quota) -> `ops` (validate with `validate`/`arn`, act on
//! `state`) or `sts_call` (`sts`' AssumeRole against `roles`, issuing `sessions`) -> journal
//! (`call`) -> answer (`wire`, or `sts`'s XML). The `admin` API under `/_emulator/` seeds channels, reads the
//! journal and codes (and activates channels "from the console"), manages assumable roles
//! and STS settings, and injects faults (errors, an HTML 502, a broken body, cut
//! connections, latency), seeded random faults (`chaos`) and a request-rate quota. The
//! journal is a ring of the newest [`EmulatorConfig::journal_capacity`] calls that counts
//! what it let go; each entry names who signed the call (`accessKeyId`, `callerArn`).
//!
//! Implemented operations: SendActivationCode, GetContactChannel, ActivateContactChannel,
//! CreateContact, CreateContactChannel, ListContactChannels, DeleteContactChannel,
//! ListContacts; STS AssumeRole.

#![forbid(unsafe_code)]

pub mod admin;
mod arn;
mod auth;
mod call;
pub mod chaos;
mod connection;
mod fault_effects;
pub mod faults;
mod handler;
pub mod journal;
mod ops;
pub mod roles;
mod server;
pub mod sessions;
pub mod sigv4;
pub mod state;
mod sts;
mod sts_call;
mod validate;
pub mod wire;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::chaos::{Chaos, ChaosError, ChaosSpec, ChaosStatus};
pub use crate::journal::DEFAULT_JOURNAL_CAPACITY;
use crate::journal::JournalStats;
use crate::roles::{InvalidRoleArn, Roles};
use crate::sessions::{LifetimeOutOfRange, Settings, StsSettings, StsSettingsUpdate};
use crate::state::{
    ActivationStatus, Channel, ChannelCode, SeedChannel, SeedError, State, UnknownChannel,
};

/// How an emulator is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// Accepted SigV4 keys: (access key id, secret access key).
    pub credentials: Vec<(String, String)>,
    /// The account in generated ARNs.
    pub account_id: String,
    /// Journal entries kept (the newest); older ones are dropped and counted.
    pub journal_capacity: NonZeroUsize,
    /// Role ARNs STS AssumeRole accepts at start (and after `/_emulator/reset`); any
    /// other role is AccessDenied, as a role that does not exist or does not trust the
    /// caller is at AWS. Default: none.
    pub roles: Vec<String>,
    /// STS settings at start (and after `/_emulator/reset`).
    pub sts: StsSettings,
}

/// Access key id of [`EmulatorConfig::default`].
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIDEMULATOR";
/// Secret access key of [`EmulatorConfig::default`].
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "emulator-secret";
/// Account of [`EmulatorConfig::default`].
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            credentials: vec![(
                DEFAULT_ACCESS_KEY_ID.to_string(),
                DEFAULT_SECRET_ACCESS_KEY.to_string(),
            )],
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            journal_capacity: DEFAULT_JOURNAL_CAPACITY,
            roles: Vec::new(),
            sts: StsSettings::default(),
        }
    }
}

impl EmulatorConfig {
    /// Keeps at most `capacity` journal entries (default [`DEFAULT_JOURNAL_CAPACITY`]).
    pub fn with_journal_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.journal_capacity = capacity;
        self
    }

    /// Lets STS AssumeRole assume `arn` (e.g. `arn:aws:iam::210987654321:role/sender`);
    /// checked when the emulator starts.
    pub fn with_role(mut self, arn: impl Into<String>) -> Self {
        self.roles.push(arn.into());
        self
    }

    /// Lets STS AssumeRole assume each of `arns`.
    pub fn with_roles<I, S>(mut self, arns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(arns.into_iter().map(Into::into));
        self
    }

    /// Starts with these STS settings (credential lifetime cap, strict accounts).
    pub fn with_sts_settings(mut self, settings: StsSettings) -> Self {
        self.sts = settings;
        self
    }
}

/// Shared by every request of one emulator.
pub(crate) struct App {
    pub(crate) config: EmulatorConfig,
    state: Mutex<State>,
}

impl App {
    /// The state; a panic elsewhere while holding the lock leaves data that is still
    /// consistent enough for a test double, so poisoning is ignored.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An emulator serving in the background of the current tokio runtime.
pub struct RunningEmulator {
    addr: SocketAddr,
    app: Arc<App>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// Serves on a fresh port of 127.0.0.1.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(listener, config).await
    }

    /// Serves on `listener` (the caller chose the address). A role in
    /// [`EmulatorConfig::roles`] that is not a role ARN, or settings out of range, are an
    /// `InvalidInput` error.
    pub async fn start_on(listener: TcpListener, config: EmulatorConfig) -> std::io::Result<Self> {
        let invalid = |e: &dyn std::fmt::Display| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
        };
        let roles = Roles::new(config.roles.iter().cloned()).map_err(|e| invalid(&e))?;
        let sts = config.sts.checked().map_err(|e| invalid(&e))?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App {
            state: Mutex::new(
                State::new(config.journal_capacity).with_sts(roles, Settings::new(sts)),
            ),
            config,
        });
        let (shutdown, stop) = watch::channel(false);
        let router = server::router(Arc::clone(&app));
        let task = tokio::spawn(server::serve(listener, router, stop));
        Ok(Self {
            addr,
            app,
            shutdown,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url` and the admin client.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin(&self) -> admin::AdminClient {
        admin::AdminClient::new(self.endpoint_url())
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.app.config
    }

    /// Seeds a channel in-process, as `POST /_emulator/channels` does.
    pub fn seed_channel(&self, seed: SeedChannel) -> Result<Channel, SeedError> {
        self.app
            .state()
            .seed_channel(seed, &self.app.config.account_id)
    }

    /// One channel by ARN, as `GET /_emulator/channels` lists it.
    pub fn channel(&self, arn: &str) -> Option<Channel> {
        self.app.state().channel(arn).cloned()
    }

    /// The channel's latest code, as `GET /_emulator/channels/{arn}/code`.
    pub fn channel_code(&self, arn: &str) -> Result<ChannelCode, UnknownChannel> {
        self.app
            .state()
            .channel(arn)
            .map(ChannelCode::from)
            .ok_or_else(|| UnknownChannel(arn.to_string()))
    }

    /// The latest code (`None` before any send or for an unknown channel), as
    /// [`admin::AdminClient::last_code`].
    pub fn last_code(&self, arn: &str) -> Option<String> {
        self.app
            .state()
            .channel(arn)
            .and_then(|channel| channel.last_code.clone())
    }

    /// Activates the channel "from the console" (no code), as `POST
    /// /_emulator/channels/{arn}/activate`.
    pub fn activate_channel(&self, arn: &str) -> Result<Channel, UnknownChannel> {
        self.app
            .state()
            .set_activation_status(arn, ActivationStatus::Activated)
    }

    /// Sets the channel back to `NOT_ACTIVATED`, as `POST
    /// /_emulator/channels/{arn}/deactivate`.
    pub fn deactivate_channel(&self, arn: &str) -> Result<Channel, UnknownChannel> {
        self.app
            .state()
            .set_activation_status(arn, ActivationStatus::NotActivated)
    }

    /// Starts chaos mode (replacing any in force) at draw 0, as `POST /_emulator/chaos`.
    pub fn start_chaos(&self, spec: ChaosSpec) -> Result<ChaosStatus, ChaosError> {
        let chaos = Chaos::start(spec)?;
        let status = chaos.status();
        self.app.state().chaos = Some(chaos);
        Ok(status)
    }

    /// Stops chaos mode, as `DELETE /_emulator/chaos`; returns where it had got to.
    pub fn stop_chaos(&self) -> Option<ChaosStatus> {
        self.app.state().chaos.take().map(|chaos| chaos.status())
    }

    /// Chaos in force, as `GET /_emulator/chaos`.
    pub fn chaos(&self) -> Option<ChaosStatus> {
        self.app.state().chaos.as_ref().map(Chaos::status)
    }

    /// Lets STS AssumeRole assume `arn` from now on, as `PUT /_emulator/roles`;
    /// `Ok(false)` when it already could.
    pub fn add_role(&self, arn: &str) -> Result<bool, InvalidRoleArn> {
        self.app.state().roles.add(arn)
    }

    /// Makes `arn` unassumable (AccessDenied) until added again or a reset, as `DELETE
    /// /_emulator/roles`; `false` when it was not known. Credentials issued for it stay
    /// valid until they expire, as at AWS.
    pub fn remove_role(&self, arn: &str) -> bool {
        self.app.state().roles.remove(arn)
    }

    /// The assumable roles, sorted, as `GET /_emulator/roles`.
    pub fn roles(&self) -> Vec<String> {
        self.app.state().roles.list()
    }

    /// The STS settings in force, as `GET /_emulator/sts`.
    pub fn sts_settings(&self) -> StsSettings {
        self.app.state().sts.current
    }

    /// Changes the fields given, as `PUT /_emulator/sts`; answers the settings now in force.
    pub fn set_sts_settings(
        &self,
        update: StsSettingsUpdate,
    ) -> Result<StsSettings, LifetimeOutOfRange> {
        let mut state = self.app.state();
        state.sts.current = state.sts.current.updated(update)?;
        Ok(state.sts.current)
    }

    /// How full the journal is, as `GET /_emulator/journal/stats`.
    pub fn journal_stats(&self) -> JournalStats {
        self.app.state().journal_stats()
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "emulator task ended abnormally");
        }
    }
}

impl Drop for RunningEmulator {
    /// A dropped emulator stops serving too, so tests need not call `shutdown`.
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
