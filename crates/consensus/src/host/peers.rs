//! The persistent peer list: network addresses, and keeping Malachite's list in line with the
//! member set the ledger reports.

use std::net::SocketAddr;

use malachitebft_app_channel::{
    Channels, NetworkRequest,
    app::{net::Multiaddr, types::PeerId},
};

use super::{Host, Ledger, LedgerError};
use crate::context::FdlContext;

impl<L: Ledger> Host<L> {
    /// Brings Malachite's persistent peer list in line with [`Ledger::peers`]: newly admitted
    /// nodes are allowed and dialed, removed ones disconnected and refused.
    pub(super) async fn update_peers(&mut self, channels: &Channels<FdlContext>) {
        let Some(want) = self.ledger.peers() else { return };
        // A node admitted by governance may publish proposal parts from now on.
        self.streams.also_from(want.iter().filter_map(|p| p.peer_id.parse::<PeerId>().ok()));
        let want: Vec<Multiaddr> = want.iter().filter_map(|p| multiaddr(p.addr, Some(&p.peer_id)).ok()).collect();
        for add in want.iter().filter(|a| !self.peer_addrs.contains(a)) {
            match NetworkRequest::add_persistent_peer(&channels.net_requests, add.clone()).await {
                Ok(Ok(())) => tracing::info!(peer = %add, "admitted a new member node"),
                other => {
                    tracing::warn!(peer = %add, result = ?other.map(|r| r.map_err(|e| e.to_string())), "could not add a peer")
                }
            }
        }
        for gone in self.peer_addrs.iter().filter(|a| !want.contains(a)) {
            match NetworkRequest::remove_persistent_peer(&channels.net_requests, gone.clone()).await {
                Ok(Ok(())) => tracing::info!(peer = %gone, "disconnected a node no longer in the member set"),
                other => {
                    tracing::warn!(peer = %gone, result = ?other.map(|r| r.map_err(|e| e.to_string())), "could not remove a peer")
                }
            }
        }
        self.peer_addrs = want;
    }
}

/// The libp2p address of `addr` over TCP, with the peer id when given.
pub(super) fn multiaddr(addr: SocketAddr, peer: Option<&str>) -> Result<Multiaddr, LedgerError> {
    let ip = match addr {
        SocketAddr::V4(a) => format!("/ip4/{}/tcp/{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("/ip6/{}/tcp/{}", a.ip(), a.port()),
    };
    let s = match peer {
        Some(p) => format!("{ip}/p2p/{p}"),
        None => ip,
    };
    s.parse().map_err(|e| LedgerError::Fatal(format!("address {s}: {e}")))
}
