//! Link changes pushed by the kernel (rtnetlink group `RTMGRP_LINK`): a cable
//! pulled, an interface set down, deleted or created wakes the daemon at once,
//! instead of it polling every interface several times a second (what
//! keepalived also listens to). A slow poll stays as the safety net for a
//! notification lost to a full socket buffer, and for addresses.

use anyhow::{Context as _, Result};
use futures::{StreamExt as _, channel::mpsc::UnboundedReceiver};
use rtnetlink::{
    constants::RTMGRP_LINK,
    packet_core::NetlinkMessage,
    packet_route::RouteNetlinkMessage,
    sys::{AsyncSocket as _, SocketAddr},
};

type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

pub struct LinkMonitor {
    messages: Messages,
}

impl LinkMonitor {
    /// Subscribes to link notifications; the socket's I/O runs as a task on
    /// the current runtime.
    pub fn open() -> Result<Self> {
        let (mut conn, _, messages) = rtnetlink::new_connection().context("rtnetlink socket")?;
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, RTMGRP_LINK))
            .context("subscribing to rtnetlink link notifications")?;
        tokio::spawn(conn);
        Ok(Self { messages })
    }

    /// Waits for the next change; a burst of notifications counts as one.
    pub async fn changed(&mut self) {
        if self.messages.next().await.is_none() {
            // The connection ended: only the poll is left.
            std::future::pending::<()>().await;
        }
        while self.messages.try_recv().is_ok() {}
    }
}
