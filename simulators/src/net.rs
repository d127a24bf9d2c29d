//! The host's side of the node's network seam: a TCP socket as the `embedded-io-async` byte
//! stream the firmware's MQTT client (`firmware::uplink`) runs on, as a modem's transparent mode
//! is on the board.

use std::fmt;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A TCP connection to the broker.
#[derive(Debug)]
pub struct TcpIo(TcpStream);

impl TcpIo {
    /// Connects to `host:port` with Nagle off (MQTT packets are small and latency-bound).
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub async fn connect(host: &str, port: u16) -> std::io::Result<Self> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(TcpIo(stream))
    }
}

/// A socket error, as the firmware's transport seam sees it.
#[derive(Debug)]
pub struct IoError(std::io::Error);

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoError {}

impl embedded_io_async::Error for IoError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        use embedded_io_async::ErrorKind as E;
        use std::io::ErrorKind as K;
        match self.0.kind() {
            K::ConnectionReset => E::ConnectionReset,
            K::ConnectionAborted => E::ConnectionAborted,
            K::BrokenPipe => E::BrokenPipe,
            K::NotConnected => E::NotConnected,
            K::TimedOut => E::TimedOut,
            _ => E::Other,
        }
    }
}

impl embedded_io_async::ErrorType for TcpIo {
    type Error = IoError;
}

impl embedded_io_async::Read for TcpIo {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        self.0.read(buf).await.map_err(IoError)
    }
}

impl embedded_io_async::Write for TcpIo {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        self.0.write(buf).await.map_err(IoError)
    }

    async fn flush(&mut self) -> Result<(), IoError> {
        self.0.flush().await.map_err(IoError)
    }
}
