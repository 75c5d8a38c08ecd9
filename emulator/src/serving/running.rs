//! `RunningEmulator`: an emulator serving in the background, with in-process twins of the
//! admin API's calls.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::admin::AdminClient;
use super::server::{router, serve};
use crate::calls::app::App;
use crate::faults::chaos::{Chaos, ChaosError, ChaosSpec, ChaosStatus};
use crate::model::config::EmulatorConfig;
use crate::model::journal::JournalStats;
use crate::model::roles::{InvalidRoleArn, Roles};
use crate::model::sessions::{LifetimeOutOfRange, Settings, StsSettings, StsSettingsUpdate};
use crate::model::state::{
    ActivationStatus, Channel, ChannelCode, SeedChannel, SeedError, State, UnknownChannel,
};

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
        let state = State::new(config.journal_capacity).with_sts(roles, Settings::new(sts));
        let app = Arc::new(App::new(config, state));
        let (shutdown, stop) = watch::channel(false);
        let router = router(Arc::clone(&app));
        let task = tokio::spawn(serve(listener, router, stop));
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

    pub fn admin(&self) -> AdminClient {
        AdminClient::new(self.endpoint_url())
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
    /// [`AdminClient::last_code`].
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
