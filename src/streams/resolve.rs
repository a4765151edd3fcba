//! Name resolution for deliveries: unless private destinations are allowed, a name that
//! resolves only to loopback, private or link-local addresses is refused at connection time,
//! and such addresses are dropped from any answer, so a public-looking name cannot lead a
//! delivery into the operator's network. Destinations written as addresses are checked when a
//! stream is configured (`config::destination`).

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::config::ip_is_private;

/// A resolver that answers public addresses only.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = public_only(found);
            if public.is_empty() {
                return Err(format!("{host} resolves only to loopback or private addresses (the operator can allow them with TALLY_STREAMS_ALLOW_PRIVATE=true)").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The public addresses among `found`.
pub fn public_only(found: Vec<SocketAddr>) -> Vec<SocketAddr> {
    found
        .into_iter()
        .filter(|a| !ip_is_private(&a.ip()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_answers_are_dropped() {
        let found = vec![
            "127.0.0.1:0".parse().unwrap(),
            "10.0.0.7:0".parse().unwrap(),
            "203.0.113.9:0".parse().unwrap(),
            "[::1]:0".parse().unwrap(),
        ];
        assert_eq!(
            public_only(found),
            vec!["203.0.113.9:0".parse::<SocketAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn a_name_of_loopback_addresses_is_refused() {
        let name: Name = "localhost".parse().unwrap();
        let refused = PublicOnly
            .resolve(name)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(refused.contains("TALLY_STREAMS_ALLOW_PRIVATE"), "{refused}");
    }
}
