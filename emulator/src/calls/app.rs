//! What every wire call and admin route of one emulator shares: its configuration and
//! its state, behind one lock.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::model::config::EmulatorConfig;
use crate::model::state::State;

/// Shared by every request of one emulator.
pub(crate) struct App {
    pub(crate) config: EmulatorConfig,
    state: Mutex<State>,
}

impl App {
    pub(crate) fn new(config: EmulatorConfig, state: State) -> Self {
        Self {
            config,
            state: Mutex::new(state),
        }
    }

    /// The state; a panic elsewhere while holding the lock leaves data that is still
    /// consistent enough for a test double, so poisoning is ignored.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
