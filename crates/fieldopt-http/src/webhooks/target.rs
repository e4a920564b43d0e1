//! Where webhooks may go: `https://` URLs whose host resolves only to
//! public addresses (no loopback, private, link-local, … — SSRF), checked
//! on create and change and again before every delivery, which then
//! connects to the very address that was checked (a DNS answer that
//! changes in between cannot redirect it). `FIELDOPT_WEBHOOKS_ALLOW_PRIVATE`
//! lifts both rules, for tests and sidecars.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::LazyLock;

use ipnet::{IpNet, Ipv6Net};
use reqwest::Url;

/// Most characters of a webhook URL.
pub const MAX_URL_CHARS: usize = 2048;

/// A URL that passed the syntax rules (not yet the address rules).
#[derive(Debug, Clone)]
pub struct Target {
    url: Url,
}

impl Target {
    /// Checks the syntax: an absolute `https://` URL (also `http://` when
    /// private targets are allowed) with a host, no credentials, at most
    /// [`MAX_URL_CHARS`] characters.
    pub fn parse(text: &str, allow_private: bool) -> Result<Self, String> {
        if text.chars().count() > MAX_URL_CHARS {
            return Err(format!("longer than {MAX_URL_CHARS} characters"));
        }
        let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            _ => return Err("must be an https:// URL".to_string()),
        }
        if url.host().is_none() {
            return Err("has no host".to_string());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".to_string());
        }
        Ok(Self { url })
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Resolves the host and checks every address it has: the address to
    /// connect to, or why the target is refused. With private targets
    /// allowed, only resolves.
    pub async fn resolve(&self, allow_private: bool) -> Result<SocketAddr, String> {
        let port = self.url.port_or_known_default().unwrap_or(443);
        let host = self.url.host_str().ok_or("has no host")?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("{host} does not resolve ({e})"))?
                .collect(),
        };
        let first = *addresses
            .first()
            .ok_or_else(|| "the host has no address".to_string())?;
        if !allow_private && let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "resolves to {}, which is not a public address",
                bad.ip()
            ));
        }
        Ok(first)
    }

    /// The host name to pin to the checked address (`None` for an IP
    /// literal, which needs no pinning).
    pub fn domain(&self) -> Option<&str> {
        self.url.domain()
    }
}

/// Networks that are not the public internet: IANA's special-purpose
/// registries (loopback, private, shared, link-local, documentation,
/// benchmarking, multicast, reserved, …).
static NOT_PUBLIC: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        // Unspecified, loopback and the deprecated IPv4-compatible form.
        "::/96",
        "100::/64",
        "64:ff9b:1::/48",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ]
    .iter()
    .map(|net| net.parse().expect("a valid network"))
    .collect()
});

/// Whether `ip` is a public unicast address. IPv6 addresses that carry an
/// IPv4 address (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) are
/// judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = embedded_v4(v6)
    {
        return is_public(IpAddr::V4(v4));
    }
    !NOT_PUBLIC.iter().any(|net| net.contains(&ip))
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let nat64: Ipv6Net = "64:ff9b::/96".parse().expect("a valid network");
    nat64.contains(&ip).then(|| {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn private_loopback_link_local_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "198.51.100.1",
            "203.0.113.7",
            "198.18.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "fec0::1",
            "::7f00:1",
            "64:ff9b:1::a00:1",
        ] {
            assert!(!public(ip), "{ip} must not count as public");
        }
    }

    #[test]
    fn internet_addresses_are_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn only_https_urls_with_a_host_and_no_credentials_pass() {
        assert!(Target::parse("https://hooks.example.com/in", false).is_ok());
        assert!(Target::parse("http://hooks.example.com/in", false).is_err());
        assert!(Target::parse("http://127.0.0.1:9000/in", true).is_ok());
        assert!(Target::parse("ftp://example.com/", true).is_err());
        assert!(Target::parse("https://user:pw@example.com/", false).is_err());
        assert!(Target::parse("not a url", false).is_err());
        assert!(Target::parse("https://", false).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(Target::parse(&long, false).is_err());
    }

    #[tokio::test]
    async fn literal_private_targets_are_refused_without_the_flag() {
        for url in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:192.168.0.1]/",
        ] {
            let target = Target::parse(url, false).unwrap();
            assert!(target.resolve(false).await.is_err(), "{url}");
            assert!(target.resolve(true).await.is_ok(), "{url} with the flag");
        }
        let public = Target::parse("https://1.1.1.1/hook", false).unwrap();
        assert_eq!(
            public.resolve(false).await.unwrap(),
            "1.1.1.1:443".parse().unwrap()
        );
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let target = Target::parse("https://localhost:8443/", false).unwrap();
        let refused = target.resolve(false).await.unwrap_err();
        assert!(refused.contains("not a public address"), "{refused}");
    }
}
