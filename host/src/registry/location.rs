//! Where a registry is: a local folder, or an OCI registry named `oci://HOST[:PORT]/PREFIX`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A registry's address, as an operator writes it after `--registry` or `--to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryLocation {
    /// A local folder (anything that is not a URL).
    Dir(PathBuf),
    /// An OCI registry.
    Oci(OciLocation),
}

/// An OCI registry and the repository prefix its components live under: component
/// `NAME` is the repository `PREFIX/NAME`, each version a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLocation {
    /// `HOST` or `HOST:PORT`, as the registry's references name it.
    pub host: String,
    /// Repository path before the component's name; may be empty.
    pub prefix: String,
    /// Plain HTTP: `oci+http://`, or a loopback host (as Docker treats `localhost`).
    pub plain_http: bool,
}

/// Why a registry address is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("registry address {given:?}: {reason}")]
pub struct LocationError {
    pub given: String,
    pub reason: &'static str,
}

impl OciLocation {
    /// The repository of component `name`.
    pub fn repository(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Whether requests cross the network unencrypted: plain HTTP to a host that is not
    /// this machine.
    pub fn sends_in_clear(&self) -> bool {
        self.plain_http && !Self::is_loopback(&self.host)
    }

    fn is_loopback(host: &str) -> bool {
        let bare = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let bare = bare.trim_start_matches('[').trim_end_matches(']');
        bare == "localhost"
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for OciLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.plain_http && !Self::is_loopback(&self.host) {
            "oci+http"
        } else {
            "oci"
        };
        write!(f, "{scheme}://{}", self.host)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

impl fmt::Display for RegistryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "{}", path.display()),
            Self::Oci(oci) => oci.fmt(f),
        }
    }
}

impl FromStr for RegistryLocation {
    type Err = LocationError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let bad = |reason| LocationError {
            given: given.chars().take(200).collect(),
            reason,
        };
        let (rest, forced_http) = if let Some(rest) = given.strip_prefix("oci://") {
            (rest, false)
        } else if let Some(rest) = given.strip_prefix("oci+http://") {
            (rest, true)
        } else if given.contains("://") {
            return Err(bad(
                "not a registry: use a folder, oci://HOST[:PORT]/PREFIX or oci+http://…",
            ));
        } else if given.is_empty() {
            return Err(bad("empty"));
        } else {
            return Ok(Self::Dir(PathBuf::from(given)));
        };
        let rest = rest.trim_end_matches('/');
        let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(bad("no registry host after oci://"));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        {
            return Err(bad(
                "the host may hold only letters, digits, '.', '-', ':' and [IPv6]",
            ));
        }
        if !prefix.is_empty() && !prefix.split('/').all(valid_path_component) {
            return Err(bad(
                "the prefix must be repository path components: lower-case letters, digits and \
                 single '.', '_', '__' or '-' between them, separated by '/'",
            ));
        }
        Ok(Self::Oci(OciLocation {
            plain_http: forced_http || OciLocation::is_loopback(host),
            host: host.to_owned(),
            prefix: prefix.to_owned(),
        }))
    }
}

/// One component of an OCI repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_alphanumeric() {
        return false;
    }
    if !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            if !(separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.bytes().all(|c| c == b'-'))
            {
                return false;
            }
            separator.clear();
        } else if b".-_".contains(&b) {
            separator.push(b as char);
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(s: &str) -> OciLocation {
        match s.parse::<RegistryLocation>().unwrap() {
            RegistryLocation::Oci(o) => o,
            other => panic!("{s} parsed as {other:?}"),
        }
    }

    #[test]
    fn folders_and_oci_addresses_parse() {
        assert_eq!(
            "demo/registry".parse::<RegistryLocation>().unwrap(),
            RegistryLocation::Dir("demo/registry".into())
        );
        let remote = oci("oci://ghcr.io/acme/anya-plugins/");
        assert_eq!(remote.host, "ghcr.io");
        assert_eq!(remote.prefix, "acme/anya-plugins");
        assert!(!remote.plain_http);
        assert_eq!(remote.repository("bech32"), "acme/anya-plugins/bech32");
        assert_eq!(remote.to_string(), "oci://ghcr.io/acme/anya-plugins");

        let local = oci("oci://127.0.0.1:5000/anya");
        assert!(local.plain_http, "loopback registries speak plain HTTP");
        assert_eq!(local.to_string(), "oci://127.0.0.1:5000/anya");
        assert!(oci("oci://localhost:5000").plain_http);
        assert_eq!(oci("oci://localhost:5000").repository("x"), "x");
        let forced = oci("oci+http://registry.lan:5000/p");
        assert!(forced.plain_http);
        assert!(forced.sends_in_clear(), "credentials are refused for it");
        assert!(!local.sends_in_clear());
        assert!(!remote.sends_in_clear());
        assert_eq!(forced.to_string(), "oci+http://registry.lan:5000/p");
    }

    #[test]
    fn bad_addresses_say_why() {
        for (given, fragment) in [
            ("https://ghcr.io/x", "not a registry"),
            ("oci://", "no registry host"),
            ("oci:///x", "no registry host"),
            ("oci://ghcr.io/Acme", "prefix"),
            ("oci://ghcr.io/a//b", "prefix"),
            ("oci://ghcr.io/a-", "prefix"),
            ("oci://gh cr.io/a", "host"),
            ("", "empty"),
        ] {
            let err = given.parse::<RegistryLocation>().unwrap_err();
            assert!(err.to_string().contains(fragment), "{given}: {err}");
        }
        assert!(valid_path_component("a__b.c-d--e"));
        assert!(!valid_path_component("a___b"));
        assert!(!valid_path_component("a._b"));
    }
}
