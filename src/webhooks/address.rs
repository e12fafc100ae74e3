//! Where deliveries may go. A webhook's URL is typed by a user of the workspace, and the server
//! sends to it from inside the operator's network: without a guard, an admin could point one at
//! the cloud's metadata service or an internal admin page and read the answers in the delivery log.
//! So deliveries go only to public addresses, checked on the addresses a name resolves to at the
//! moment of connecting (the connection is then made to exactly those), not on the name alone, which
//! a second lookup could resolve elsewhere. `CRM_WEBHOOKS_ALLOW_PRIVATE=true` lifts the rule for
//! receivers on the operator's own network (and the tests' on loopback).

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_tls::connect::Resolve;
use futures_util::future::LocalBoxFuture;

/// Whether `ip` is an address on the public internet: not loopback, private, link-local (where
/// cloud metadata services answer), shared (carrier NAT), multicast, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => is_public_v4(mapped),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [first, second, third, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || first == 0
        // 100.64.0.0/10: shared address space (carrier-grade NAT).
        || (first == 100 && (64..128).contains(&second))
        // 192.0.0.0/24: IETF protocol assignments.
        || (first == 192 && second == 0 && third == 0)
        // 198.18.0.0/15: benchmarking.
        || (first == 198 && (18..20).contains(&second))
        // 240.0.0.0/4: reserved.
        || first >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7: unique local (fd00:ec2::254 is a metadata service).
        || (first & 0xfe00) == 0xfc00
        // fe80::/10: link-local.
        || (first & 0xffc0) == 0xfe80
        // 64:ff9b:1::/48 and the like: translation prefixes could reach IPv4 private space.
        || first == 0x0064
        // 2001:db8::/32: documentation.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// Why an address is refused, for the delivery log and the 422 of a URL.
pub fn refusal(ip: IpAddr) -> String {
    format!(
        "{ip} is not a public address: webhooks are delivered to public addresses only (CRM_WEBHOOKS_ALLOW_PRIVATE=true allows others)"
    )
}

/// The host of a URL as an address, when it is one (`[::1]` included).
pub fn literal_address(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Resolves names for the delivery client and keeps only the addresses deliveries may go to.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn StdError>>> {
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = match literal_address(host) {
                Some(ip) => vec![SocketAddr::new(ip, port)],
                None => tokio::net::lookup_host((host, port)).await?.collect(),
            };
            if self.allow_private {
                return Ok(resolved);
            }
            let public: Vec<SocketAddr> =
                resolved.iter().copied().filter(|addr| is_public(addr.ip())).collect();
            match (public.is_empty(), resolved.first()) {
                (false, _) => Ok(public),
                (true, Some(refused)) => Err(format!("{host}: {}", refusal(refused.ip())).into()),
                (true, None) => Err(format!("{host} resolves to no address").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().expect("an address"))
    }

    #[test]
    fn refuses_what_is_not_on_the_public_internet() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!public(refused), "{refused} was taken for public");
        }
    }

    #[test]
    fn accepts_public_addresses() {
        for accepted in ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(public(accepted), "{accepted} was refused");
        }
    }

    #[test]
    fn reads_bracketed_v6_hosts() {
        assert_eq!(literal_address("[::1]"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(literal_address("example.com"), None);
    }
}
