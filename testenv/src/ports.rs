//! Free TCP ports on 127.0.0.1 for the servers to listen on.
//!
//! The kernel picks a port when we bind `127.0.0.1:0`; we release it and hand the number to
//! etcd or kube-apiserver. Another process can grab it in between, so a start whose child
//! dies early is retried once with fresh ports (see `ControlPlane::start_with`).

use std::net::{Ipv4Addr, TcpListener};

use crate::Error;

/// `N` distinct free ports. All listeners stay open until every port is chosen, so the kernel
/// cannot hand out the same port twice within one call.
pub fn free_ports<const N: usize>() -> Result<[u16; N], Error> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::io("binding 127.0.0.1:0 to find a free port"))?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(Error::io("reading a bound port"))?
            .port();
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports of one call are distinct and bindable once released. Any process on the machine
    /// may take a released port in the moment after (an outgoing connection's ephemeral
    /// port, say): that is the race `ControlPlane::start_with` retries, so a few rounds are
    /// allowed here too, while distinctness must hold in every round.
    #[test]
    fn ports_are_distinct_and_free() {
        let bindable_round = (0..5).any(|_| {
            let ports: [u16; 3] = free_ports().unwrap();
            let mut sorted = ports.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3);
            assert!(ports.iter().all(|port| *port != 0));
            ports
                .iter()
                .all(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_ok())
        });
        assert!(
            bindable_round,
            "no round of released ports could be bound again"
        );
    }
}
