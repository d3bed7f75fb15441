//! Who is on the other end, as far as limits are concerned.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The client's address, resolved by the edge (TCP peer, or the hop a
/// trusted proxy saw). `None` when there is no peer (a command, a test).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Client(pub Option<IpAddr>);

impl Client {
    /// The address as it appears in rate-limit keys: IPv4-mapped IPv6
    /// addresses count as the IPv4 address they carry, and an IPv6 address
    /// as its /64 (one subscriber gets a whole /64 and picks from it freely).
    pub fn key(self) -> String {
        match self.0.map(|ip| ip.to_canonical()) {
            None => String::new(),
            Some(IpAddr::V4(ip)) => ip.to_string(),
            Some(IpAddr::V6(ip)) => {
                let network = u128::from(ip) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        }
    }
}

/// The address, or nothing when there is none: for logs (every request
/// line), without an allocation; an IPv4 address is written digit by digit
/// rather than through four integer formattings.
impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(IpAddr::V4(ip)) => {
                let (text, len) = ipv4_text(ip);
                // ASCII digits and dots.
                f.pad(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
            }
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

impl Client {
    /// As [`fmt::Display`] writes it, without a formatter for IPv4.
    pub fn write_to(&self, w: &mut impl fmt::Write) -> fmt::Result {
        match self.0 {
            Some(IpAddr::V4(ip)) => {
                let (text, len) = ipv4_text(ip);
                w.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
            }
            Some(ip) => write!(w, "{ip}"),
            None => Ok(()),
        }
    }
}

/// Dotted decimal, in a buffer: the text and its length.
fn ipv4_text(ip: std::net::Ipv4Addr) -> ([u8; 15], usize) {
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if octet >= 100 {
            0
        } else if octet >= 10 {
            1
        } else {
            2
        };
        for digit in &digits[skip..] {
            text[len] = b'0' + digit;
            len += 1;
        }
    }
    (text, len)
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

    #[test]
    fn addresses_display_as_the_standard_library_writes_them() {
        for text in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "192.168.100.255",
            "255.255.255.255",
            "1.2.3.4",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = text.parse().expect("address");
            assert_eq!(Client(Some(ip)).to_string(), ip.to_string());
        }
        assert_eq!(Client(None).to_string(), "");
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let key = |s: &str| Client(Some(s.parse().expect("address"))).key();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::1"), "::/64");
    }

    #[test]
    fn client_addresses_read_as_displayed() {
        for address in ["127.0.0.1", "10.0.100.255", "0.0.0.0", "2001:db8::7"] {
            let client = Client(Some(address.parse().expect("address")));
            let mut text = String::new();
            client.write_to(&mut text).expect("writes");
            assert_eq!(text, client.to_string());
        }
        let mut text = String::new();
        Client(None).write_to(&mut text).expect("writes");
        assert_eq!(text, "");
    }
}
