//! Value checks for the policy file: each function turns one TOML value into a domain
//! value or refuses it with a reason. They run inside deserialization so that `toml`
//! attaches the value's line and column to the error.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

use crate::ids::ComponentName;
use crate::manifest::Bip;

/// The longest duration a `*_minutes` key accepts: one year.
pub const MAX_MINUTES: u64 = 366 * 24 * 60;

/// An e-mail address, checked minimally: `local@domain.tld`, no spaces, no control
/// characters, none of the characters that would let it smuggle a second header or
/// address (`,;<>"()[]\`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The longest address SMTP can carry (RFC 5321: 254 octets in a path).
    pub const MAX_LEN: usize = 254;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let fail = |why: &str| Err(format!("invalid e-mail address {s:?}: {why}"));
        if s.len() > Self::MAX_LEN {
            return fail("it is longer than 254 bytes");
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || ",;<>\"()[]\\".contains(*c))
        {
            return fail(&format!("it contains {c:?}"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return fail("it has no '@'");
        };
        if local.is_empty() {
            return fail("nothing before the '@'");
        }
        if domain.contains('@') {
            return fail("it has more than one '@'");
        }
        if !is_dotted_host_name(domain) {
            return fail("the part after '@' is not a domain name such as example.com");
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// `example.com`: labels of `[A-Za-z0-9-]`, not starting or ending with `-`, at least two.
fn is_dotted_host_name(s: &str) -> bool {
    is_host_name(s) && s.contains('.')
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A host to connect to: a host name (`smtp.example.com`, `localhost`) or an IP address.
pub(crate) fn host<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.parse::<IpAddr>().is_ok() || is_host_name(&s) {
        Ok(s)
    } else {
        Err(de::Error::custom(format!(
            "invalid host {s:?}: expected a host name such as \"smtp.example.com\" or an IP address"
        )))
    }
}

/// A TCP port, 1 to 65535.
pub(crate) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let n = i64::deserialize(d)?;
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(Some(p)),
        _ => Err(de::Error::custom(format!(
            "invalid port {n}: expected 1 to 65535"
        ))),
    }
}

/// A path to a secret file. Absolute, because the policy can be read from anywhere and a
/// relative path would silently depend on the daemon's working folder.
pub(crate) fn absolute_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = String::deserialize(d)?;
    let path = PathBuf::from(&s);
    if path.is_absolute() {
        Ok(Some(path))
    } else {
        Err(de::Error::custom(format!(
            "path {s:?} is not absolute: write the full path, such as \"/etc/anya/secret\""
        )))
    }
}

/// A number of minutes, 1 to [`MAX_MINUTES`], as a [`Duration`].
pub(crate) fn minutes<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let n = i64::deserialize(d)?;
    match u64::try_from(n) {
        Ok(m) if (1..=MAX_MINUTES).contains(&m) => Ok(Duration::from_secs(m * 60)),
        _ => Err(de::Error::custom(format!(
            "invalid number of minutes {n}: expected 1 to {MAX_MINUTES}"
        ))),
    }
}

/// A count that must be at least 1 (0 would switch the feature it counts off).
pub(crate) fn at_least_one<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let n = i64::deserialize(d)?;
    if n < 1 {
        return Err(de::Error::custom(format!(
            "invalid count {n}: expected at least 1"
        )));
    }
    T::try_from(n).map_err(|_| de::Error::custom(format!("count {n} is too large")))
}

/// A share, from 0 to 1 inclusive. Integers `0` and `1` are accepted too.
pub(crate) fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct RateVisitor;
    impl Visitor<'_> for RateVisitor {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number from 0 to 1, such as 0.05")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(E::custom(format!(
                    "invalid rate {v}: expected a number from 0 to 1, such as 0.05"
                )))
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            match v {
                0 => Ok(0.0),
                1 => Ok(1.0),
                _ => Err(E::custom(format!(
                    "invalid rate {v}: expected a number from 0 to 1, such as 0.05"
                ))),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
        }
    }
    d.deserialize_any(RateVisitor)
}

/// Refuses a list that names the same thing twice: in a policy that is a typo more often
/// than not.
fn unique<T: PartialEq + fmt::Display, E: de::Error>(items: Vec<T>) -> Result<Vec<T>, E> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(E::custom(format!("{item} is listed twice")));
        }
    }
    Ok(items)
}

/// Webhook URLs: `http` or `https` with a host, each listed once.
pub(crate) fn http_urls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Url>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    let mut urls = Vec::with_capacity(raw.len());
    for s in raw {
        let url =
            Url::parse(&s).map_err(|e| de::Error::custom(format!("invalid URL {s:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(de::Error::custom(format!(
                "invalid URL {s:?}: only http and https are allowed"
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(de::Error::custom(format!(
                "invalid URL {s:?}: it has no host"
            )));
        }
        urls.push(url);
    }
    unique(urls)
}

/// E-mail addresses, each listed once.
pub(crate) fn emails<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EmailAddress>, D::Error> {
    unique(Vec::<EmailAddress>::deserialize(d)?)
}

/// Component names, each listed once.
pub(crate) fn component_names<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ComponentName>, D::Error> {
    unique(Vec::<ComponentName>::deserialize(d)?)
}

/// BIP numbers, as strings (`"141"`, the guide's form) or integers (`141`), each listed
/// once.
pub(crate) fn bips<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Bip>, D::Error> {
    struct BipsVisitor;
    impl<'de> Visitor<'de> for BipsVisitor {
        type Value = Vec<Bip>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of BIP numbers, such as [\"141\", \"143\"]")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Bip>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<BipItem>()? {
                out.push(item.0);
            }
            unique(out)
        }
    }
    d.deserialize_seq(BipsVisitor)
}

struct BipItem(Bip);

impl<'de> Deserialize<'de> for BipItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl Visitor<'_> for ItemVisitor {
            type Value = BipItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a BIP number such as \"173\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BipItem, E> {
                v.parse().map(BipItem).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BipItem, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BipItem, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(ItemVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses() {
        for ok in ["admin@example.com", "ops+anya@mail.example.org", "a@b.co"] {
            assert_eq!(ok.parse::<EmailAddress>().unwrap().as_str(), ok);
        }
        for (bad, why) in [
            ("admin", "no '@'"),
            ("@example.com", "nothing before"),
            ("a@b@example.com", "more than one"),
            ("admin@localhost", "domain name"),
            ("admin@exa mple.com", "' '"),
            ("admin@example.com\r\nBcc: x@y.z", "'\\r'"),
            ("a,b@example.com", "','"),
            ("admin@-example.com", "domain name"),
            ("admin@example..com", "domain name"),
        ] {
            let err = bad.parse::<EmailAddress>().unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(long.parse::<EmailAddress>().unwrap_err().contains("254"));
    }

    #[test]
    fn host_names() {
        assert!(is_host_name("localhost"));
        assert!(is_host_name("smtp.example.com"));
        assert!(!is_host_name("smtp example.com"));
        assert!(!is_host_name("smtp.example.com."));
        assert!(!is_host_name(""));
    }
}
