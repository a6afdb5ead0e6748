//! Host names to socket addresses: tokio's resolver by default, or one a
//! test injects so that DNS can fail (or succeed) without the network.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

/// What [`Resolver::resolve`] returns: the addresses a name has.
pub type Resolution = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Looks up host names for outgoing connections. An address whose host is
/// an IP literal (`127.0.0.1:8000`) is never looked up.
///
/// A lookup that fails, or finds no address, fails the attempt with
/// `client_connection_failed(dns_lookup)`, as Twisted's `resolveAddress`
/// does (C4).
///
/// ```
/// use std::io;
/// use callorder_tokio::{Resolution, Resolver};
///
/// /// Knows no name at all.
/// struct NoNames;
///
/// impl Resolver for NoNames {
///     fn resolve(&self, host: &str, _port: u16) -> Resolution {
///         let error = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no such name"));
///         Box::pin(async move { Err(error) })
///     }
/// }
/// ```
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host`, with `port`.
    fn resolve(&self, host: &str, port: u16) -> Resolution;
}

/// tokio's resolver (`tokio::net::lookup_host`, the system's).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Resolution {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// `host:port` as its parts: `[::1]:80` and `127.0.0.1:80` and
/// `example.org:80`. `None` when there is no port.
pub(crate) fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn an_address_splits_into_host_and_port() {
        assert_eq!(split_host_port("127.0.0.1:80"), Some(("127.0.0.1", 80)));
        assert_eq!(split_host_port("[::1]:8080"), Some(("::1", 8080)));
        assert_eq!(
            split_host_port("example.org:443"),
            Some(("example.org", 443))
        );
        assert_eq!(split_host_port("example.org"), None);
        assert_eq!(split_host_port("example.org:http"), None);
    }
}
