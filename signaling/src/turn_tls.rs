//! TURN over TLS (`turns:`) for the embedded server: the one way through networks that let
//! only TLS out, usually on port 443. Connections are upgraded with rustls before the TURN
//! server frames STUN on them.

use medea_turn::transport::{TcpStreamLike, TcpUpgrade};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

/// A TLS handshake that takes longer than this is dropped, so that connections that never
/// finish one cannot pile up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS connections open at once at most, handshakes included: each holds a descriptor and
/// rustls's buffers. Past it, new connections are closed at once.
pub const MAX_CONNECTIONS: usize = 4096;

/// How to run TURN over TLS.
#[derive(Debug, Clone)]
pub struct TurnTls {
    /// Where it listens.
    pub listen: SocketAddr,
    /// PEM: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM: its private key.
    pub key: PathBuf,
    /// The host name in the `turns:` URL, which the certificate must name; the announced IP
    /// when unset.
    pub name: Option<String>,
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no PEM certificate.
    #[error("cannot read the TURN TLS certificate {0}: {1}")]
    Cert(PathBuf, String),
    /// The key file is missing, unreadable or holds no PEM private key.
    #[error("cannot read the TURN TLS key {0}: {1}")]
    Key(PathBuf, String),
    /// rustls refused them (a key that does not match the certificate, say).
    #[error("the TURN TLS certificate and key do not make a TLS server: {0}")]
    Config(#[from] rustls::Error),
}

/// A TLS acceptor for the certificate chain and key in the PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert(cert.to_owned(), e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Cert(
            cert.to_owned(),
            "no certificate in it".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key(key.to_owned(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The upgrade the TURN server runs on each accepted connection: a TLS handshake, within
/// [`HANDSHAKE_TIMEOUT`], while fewer than [`MAX_CONNECTIONS`] are open.
pub fn upgrade(acceptor: TlsAcceptor) -> TcpUpgrade {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    Arc::new(move |stream| {
        let (acceptor, slots) = (acceptor.clone(), slots.clone());
        Box::pin(async move {
            let slot = slots
                .try_acquire_owned()
                .map_err(|_| std::io::Error::other("too many TURN over TLS connections"))?;
            let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            let stream = Slotted {
                stream: tls,
                _slot: slot,
            };
            Ok(Box::new(stream) as Box<dyn TcpStreamLike>)
        })
    })
}

/// A stream that holds its connection slot until it is dropped.
struct Slotted<S> {
    stream: S,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Slotted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Slotted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
