//! Who is on the other end, as far as limits are concerned.

use std::fmt;
use std::net::IpAddr;

/// The client's address, resolved by the edge (TCP peer, or the hop a
/// trusted proxy saw). `None` when there is no peer (a command, a test).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Client(pub Option<IpAddr>);

impl Client {
    /// The address as it appears in rate-limit keys: IPv4-mapped IPv6
    /// addresses count as the IPv4 address they carry.
    pub fn key(self) -> String {
        self.0
            .map(|ip| ip.to_canonical().to_string())
            .unwrap_or_default()
    }
}

/// The address, or nothing when there is none: for logs, without an
/// allocation.
impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_address_counts_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("address");
        let plain: IpAddr = "192.0.2.7".parse().expect("address");
        assert_eq!(Client(Some(mapped)).key(), Client(Some(plain)).key());
        assert_eq!(Client(None).key(), "");
    }
}
