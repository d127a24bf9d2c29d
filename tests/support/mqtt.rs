//! A minimal MQTT 3.1.1 test client (rumqttc) whose event loop runs in its own task.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rumqttc::{AsyncClient, ConnAck, ConnectionError, Event, MqttOptions, Outgoing, Packet, Publish, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a connect, subscribe, publish or disconnect may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected client. Design: the event loop only polls in its own task and forwards every event
/// here (rumqttc issues #263, #1025: publishing from the polling task deadlocks); it stops at the
/// first connection error instead of reconnecting, so a test sees exactly what the broker did.
#[derive(Debug)]
pub struct TestClient {
    /// The client handle, for requests the helpers below do not cover.
    pub client: AsyncClient,
    /// What the broker answered to the CONNECT (e.g. `session_present`).
    pub connack: ConnAck,
    events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    task: JoinHandle<()>,
}

impl TestClient {
    /// Connects to 127.0.0.1:`port` as `client_id` and waits for the CONNACK.
    ///
    /// # Errors
    /// When the broker refuses or does not answer in time.
    pub async fn connect(port: u16, client_id: &str, clean_session: bool) -> Result<Self> {
        Self::connect_as(port, client_id, clean_session, None).await
    }

    /// As [`TestClient::connect`], logging in with `(user, password)` when given.
    ///
    /// # Errors
    /// When the broker refuses (the CONNACK's code is in the error) or does not answer in time.
    pub async fn connect_as(
        port: u16,
        client_id: &str,
        clean_session: bool,
        login: Option<(&str, &str)>,
    ) -> Result<Self> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_clean_session(clean_session)
            .set_keep_alive(Duration::from_secs(30));
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        let (client, mut event_loop) = AsyncClient::new(options, 64);
        let (sender, mut events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let event = event_loop.poll().await;
                let failed = event.is_err();
                if sender.send(event).is_err() || failed {
                    break;
                }
            }
        });
        let connack = match wait_event(&mut events, STEP_TIMEOUT, |e| {
            matches!(e, Event::Incoming(Packet::ConnAck(_)))
        })
        .await
        .with_context(|| format!("connecting {client_id} to 127.0.0.1:{port}"))?
        {
            Event::Incoming(Packet::ConnAck(connack)) => connack,
            other => bail!("expected a CONNACK, got {other:?}"),
        };
        Ok(Self {
            client,
            connack,
            events,
            task,
        })
    }

    /// Subscribes to `filter` and waits for the SUBACK.
    ///
    /// # Errors
    /// When the request cannot be queued or no SUBACK arrives in time.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<()> {
        self.client
            .subscribe(filter, qos)
            .await
            .context("queueing SUBSCRIBE")?;
        self.wait_for(STEP_TIMEOUT, |event| {
            matches!(event, Event::Incoming(Packet::SubAck(_)))
        })
        .await?;
        Ok(())
    }

    /// Publishes with QoS 1 and waits for the broker's PUBACK.
    ///
    /// # Errors
    /// When the request cannot be queued or no PUBACK arrives in time.
    pub async fn publish_qos1(&mut self, topic: &str, payload: &[u8]) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .context("queueing PUBLISH")?;
        self.wait_for(STEP_TIMEOUT, |event| {
            matches!(event, Event::Incoming(Packet::PubAck(_)))
        })
        .await?;
        Ok(())
    }

    /// The next PUBLISH the broker sends (rumqttc acks it).
    ///
    /// # Errors
    /// When none arrives within `timeout` or the connection fails.
    pub async fn next_publish(&mut self, timeout: Duration) -> Result<Publish> {
        match self
            .wait_for(timeout, |event| {
                matches!(event, Event::Incoming(Packet::Publish(_)))
            })
            .await?
        {
            Event::Incoming(Packet::Publish(publish)) => Ok(publish),
            other => Err(anyhow!("expected a PUBLISH, got {other:?}")),
        }
    }

    /// Sends DISCONNECT and waits until the broker has closed the connection, so it has processed the
    /// DISCONNECT before the test goes on.
    ///
    /// # Errors
    /// When the request cannot be queued or the connection does not close in time.
    pub async fn disconnect(mut self) -> Result<()> {
        self.client.disconnect().await.context("queueing DISCONNECT")?;
        self.wait_for(STEP_TIMEOUT, |event| {
            matches!(event, Event::Outgoing(Outgoing::Disconnect))
        })
        .await?;
        let closed = tokio::time::timeout(STEP_TIMEOUT, async {
            while let Some(Ok(_)) = self.events.recv().await {}
        })
        .await;
        closed.map_err(|_| anyhow!("the broker did not close the connection within {STEP_TIMEOUT:?}"))
    }

    /// Waits for the first event matching `wanted`, skipping the others.
    ///
    /// # Errors
    /// On timeout, or when the connection fails first.
    pub async fn wait_for<F>(&mut self, timeout: Duration, wanted: F) -> Result<Event>
    where
        F: FnMut(&Event) -> bool,
    {
        wait_event(&mut self.events, timeout, wanted).await
    }
}

/// Waits for the first event matching `wanted`, skipping the others.
async fn wait_event<F>(
    events: &mut mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    timeout: Duration,
    mut wanted: F,
) -> Result<Event>
where
    F: FnMut(&Event) -> bool,
{
    let search = async {
        loop {
            match events.recv().await {
                Some(Ok(event)) if wanted(&event) => return Ok(event),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(anyhow!("MQTT connection failed: {e}")),
                None => return Err(anyhow!("MQTT event loop ended")),
            }
        }
    };
    tokio::time::timeout(timeout, search)
        .await
        .map_err(|_| anyhow!("no matching MQTT event within {timeout:?}"))?
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}
