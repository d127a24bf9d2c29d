//! A TCP relay in front of the broker that can leave connections unanswered, as a cellular link
//! does while it registers: a connection it is told to swallow is accepted, its bytes are read
//! and dropped, and it is closed after a while without a byte back. Other connections are relayed
//! both ways unchanged. Included by tests with `#[path]`, next to `support`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The relay; stopped on drop.
pub struct FlakyLink {
    port: u16,
    swallow: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FlakyLink {
    /// Relays 127.0.0.1:`port()` to 127.0.0.1:`target_port`; swallowed connections are closed
    /// after `hold`.
    ///
    /// # Errors
    /// When no loopback port is free.
    pub async fn start(target_port: u16, hold: Duration) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let swallow = Arc::new(AtomicUsize::new(0));
        let to_swallow = Arc::clone(&swallow);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let swallowed = to_swallow
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if swallowed {
                    tokio::spawn(swallow_for(client, hold));
                } else {
                    tokio::spawn(relay(client, target_port));
                }
            }
        });
        Ok(FlakyLink { port, swallow, task })
    }

    /// The port to connect to instead of the broker's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next `n` connections go unanswered.
    pub fn swallow_next(&self, n: usize) {
        self.swallow.store(n, Ordering::SeqCst);
    }
}

impl Drop for FlakyLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn swallow_for(mut client: TcpStream, hold: Duration) {
    let mut sink = [0u8; 256];
    let _ = tokio::time::timeout(hold, async {
        while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn relay(mut client: TcpStream, target_port: u16) {
    let Ok(mut broker) = TcpStream::connect(("127.0.0.1", target_port)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
}
