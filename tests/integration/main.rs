//! Integration scenarios against a real kube-apiserver + etcd (testenv), the SSM Contacts
//! emulator speaking the real wire protocol, and the operator binary as a child process.

/// `(name, scenario)` for the list of trials.
macro_rules! scenario {
    ($name:ident) => {
        (
            stringify!($name),
            (|suite| Box::pin($name(suite))) as crate::Scenario,
        )
    };
}

mod activation;
mod admission;
mod chart_values;
mod day_two;
mod guards;
mod kstatus;
mod pacing;
mod rbac;
mod reliability;
mod scenarios;
mod sharding;
mod support;
mod tenancy;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use support::{Result, Suite};

type Scenario = fn(Arc<Suite>) -> Pin<Box<dyn Future<Output = Result> + Send>>;

fn main() -> std::process::ExitCode {
    // Tests never reach for the EC2 metadata address (not loopback).
    let args = Arguments::from_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start a tokio runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let started = runtime.block_on(start_suite());
    let (control_plane, suite) = match started {
        Ok(pair) => pair,
        Err(error) => {
            eprintln!("cannot start the control plane: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let suite = Arc::new(suite);
    let handle = runtime.handle().clone();
    let trials = scenarios::all()
        .into_iter()
        .map(|(name, scenario): (&'static str, Scenario)| {
            let suite = suite.clone();
            let handle = handle.clone();
            // Scenarios that restart the control plane run alone.
            let exclusive = reliability::EXCLUSIVE.contains(&name);
            Trial::test(name, move || {
                handle
                    .block_on(async {
                        let _gate = suite.enter(exclusive).await;
                        scenario(suite.clone()).await
                    })
                    .map_err(|e| Failed::from(e.to_string()))
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Err(error) = runtime.block_on(control_plane.stop()) {
        eprintln!("control plane did not stop cleanly: {error}");
    }
    conclusion.exit_code()
}

async fn start_suite() -> Result<(testenv::ControlPlane, Suite)> {
    let control_plane = testenv::ControlPlane::start().await?;
    let suite = Suite::install(&control_plane).await?;
    Ok((control_plane, suite))
}
