//! Restarting etcd and kube-apiserver in place under running clients: objects survive, a
//! client built before a restart works after it, PIDs and the pid file follow the new
//! processes, and a control plane with restarted servers still cleans up after itself.

// clippy.toml's allow-unwrap-in-tests covers #[test] fns only, not these helpers.
#![allow(clippy::unwrap_used, reason = "in tests a panic is the failure report")]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use testenv::{ControlPlane, Error, Server, Shutdown, create_namespace};

/// One request may not hang a test: a server that serves answers well within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// With etcd down, kube-apiserver holds a read until its own timeout (60 s); not answering
/// within this counts as failing.
const DOWN_READ_TIMEOUT: Duration = Duration::from_secs(3);

fn config_map(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("value".into(), value.into())])),
        ..ConfigMap::default()
    }
}

async fn create(api: &Api<ConfigMap>, name: &str, value: &str) {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        api.create(&PostParams::default(), &config_map(name, value)),
    )
    .await
    .unwrap()
    .unwrap();
}

/// Reads `name` once (no retry: the restart calls promise the server serves when they return).
async fn value_of(api: &Api<ConfigMap>, name: &str) -> String {
    let object = tokio::time::timeout(REQUEST_TIMEOUT, api.get(name))
        .await
        .unwrap()
        .unwrap();
    object.data.unwrap()["value"].clone()
}

fn running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn pid_file(plane: &ControlPlane) -> String {
    std::fs::read_to_string(plane.work_dir().join(testenv::stale::PID_FILE)).unwrap()
}

/// Objects survive a kube-apiserver restart and an etcd restart, the client built before both
/// reads and writes after each, and pids(), pid() and the pid file name the new processes.
#[tokio::test]
async fn restarts_keep_objects_and_clients_working() {
    let plane = ControlPlane::start().await.unwrap();
    let client = plane.client().await.unwrap();
    let ns = create_namespace(&client, "restart").await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    create(&config_maps, "before", "1").await;
    let old_apiserver = plane.pid(Server::ApiServer).unwrap();
    let old_etcd = plane.pid(Server::Etcd).unwrap();

    let started = Instant::now();
    let ready = plane.restart_apiserver().await.unwrap();
    eprintln!(
        "kube-apiserver restart: ready {ready:?} after spawn, {:?} in all",
        started.elapsed()
    );
    let new_apiserver = plane.pid(Server::ApiServer).unwrap();
    assert_ne!(new_apiserver, old_apiserver);
    assert!(!running(old_apiserver), "the old kube-apiserver survived");
    assert_eq!(plane.pid(Server::Etcd), Some(old_etcd));
    assert_eq!(value_of(&config_maps, "before").await, "1");

    let started = Instant::now();
    let ready = plane.restart_etcd().await.unwrap();
    eprintln!(
        "etcd restart: etcd and kube-apiserver serving {ready:?} after spawn, {:?} in all",
        started.elapsed()
    );
    let new_etcd = plane.pid(Server::Etcd).unwrap();
    assert_ne!(new_etcd, old_etcd);
    assert!(!running(old_etcd), "the old etcd survived");
    assert_eq!(plane.pid(Server::ApiServer), Some(new_apiserver));
    assert_eq!(value_of(&config_maps, "before").await, "1");
    create(&config_maps, "after", "2").await;
    let names: Vec<String> = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert!(names.contains(&"before".to_string()), "{names:?}");
    assert!(names.contains(&"after".to_string()), "{names:?}");

    assert_eq!(plane.pids(), vec![new_apiserver, new_etcd]);
    let recorded = pid_file(&plane);
    assert!(
        recorded.contains(&format!("etcd {new_etcd}\n")),
        "{recorded}"
    );
    assert!(
        recorded.contains(&format!("kube-apiserver {new_apiserver}\n")),
        "{recorded}"
    );
    plane.check_alive().unwrap();
    plane.stop().await.unwrap();
    assert!(!running(new_apiserver) && !running(new_etcd));
}

/// Either server can be held down and brought back: requests fail meanwhile, the same client
/// recovers, the API server refuses to start without etcd, a graceful restart works from a
/// spawned task, and dropping the control plane kills the restarted processes.
#[tokio::test]
async fn held_down_servers_come_back_and_drop_cleans_up() {
    let plane = ControlPlane::start().await.unwrap();
    let client = plane.client().await.unwrap();
    let ns = create_namespace(&client, "held").await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    create(&config_maps, "kept", "1").await;

    // etcd down under a running API server: reads fail, the API server stays up.
    let etcd = plane.pid(Server::Etcd).unwrap();
    plane.stop_etcd().await.unwrap();
    assert_eq!(plane.pid(Server::Etcd), None);
    assert!(!running(etcd));
    plane.check_alive().unwrap();
    let down = Instant::now();
    let read = tokio::time::timeout(DOWN_READ_TIMEOUT, config_maps.get("kept")).await;
    assert!(!matches!(read, Ok(Ok(_))), "read with etcd down: {read:?}");
    eprintln!("read with etcd down failed after {:?}", down.elapsed());
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(down.elapsed())).await;
    let ready = plane.start_etcd().await.unwrap();
    eprintln!(
        "etcd back after {:?} down: kube-apiserver serving {ready:?} after the spawn",
        down.elapsed() - ready
    );
    assert_eq!(value_of(&config_maps, "kept").await, "1");

    // Both down: the API server cannot start before etcd.
    plane.stop_apiserver().await.unwrap();
    plane.stop_etcd().await.unwrap();
    assert!(plane.pids().is_empty());
    match plane.start_apiserver().await {
        Err(Error::Lifecycle { server, reason }) => {
            assert_eq!(server, Server::ApiServer);
            assert!(reason.contains("etcd"), "{reason}");
        }
        other => panic!("kube-apiserver started without etcd: {other:?}"),
    }
    let etcd_ready = plane.start_etcd().await.unwrap();
    let apiserver_ready = plane.start_apiserver().await.unwrap();
    eprintln!("cold starts: etcd {etcd_ready:?}, kube-apiserver {apiserver_ready:?}");
    assert_eq!(value_of(&config_maps, "kept").await, "1");
    assert!(matches!(
        plane.start_apiserver().await,
        Err(Error::Lifecycle { .. })
    ));

    // A handle moved into a spawned task restarts etcd gracefully.
    let control = plane.server_control();
    let task =
        tokio::spawn(async move { control.restart(Server::Etcd, Shutdown::Terminate).await });
    let ready = task.await.unwrap().unwrap();
    eprintln!("graceful etcd restart: serving {ready:?} after spawn");
    create(&config_maps, "later", "2").await;
    assert_eq!(value_of(&config_maps, "later").await, "2");

    // Drop takes the current (restarted) processes and the temp dir with it; the handle
    // refuses to start anything afterwards.
    let control = plane.server_control();
    let pids = plane.pids();
    assert_eq!(pids.len(), 2);
    let work_dir = plane.work_dir().to_owned();
    drop(plane);
    for pid in pids {
        assert!(!running(pid), "pid {pid} survived");
    }
    assert!(!work_dir.exists(), "{} survived", work_dir.display());
    assert!(matches!(
        control.start(Server::Etcd).await,
        Err(Error::Lifecycle { .. })
    ));
    assert_eq!(control.pid(Server::Etcd), None);
}
