//! The `fee-estimator` extension's logic, shared by its versions: the
//! fee-rate history, the estimate, the two storage formats, and the
//! migration from the first format to the second. The guests
//! (`fee-estimator-v1`, `fee-estimator-v2`, `fee-estimator-v2-bad`) are thin
//! adapters over this crate; keeping it free of the SDK (except the `guest`
//! feature) lets its tests run on the host against an in-memory [`Kv`].
//!
//! The storage formats, as keys of the extension's `anya:host/kv` namespace:
//!
//! | versions | [`Format`] | keys |
//! |---|---|---|
//! | 1.x | [`Format::V1`] | `history`: the rates as comma-separated decimal text, oldest first (`5,7,12`; empty or absent: no history) |
//! | 2.x | [`Format::V2`] | `history-v2`: the rates as little-endian u64s, 8 bytes each, oldest first; `schema`: 2, as a little-endian u64 |
//!
//! Invariants:
//! - a stored history holds at most [`HISTORY_LIMIT`] rates;
//! - [`record`] writes one key, so a call either stores its rate or leaves
//!   the history as it was;
//! - [`activate_v2`] reads and checks everything before it writes anything,
//!   and writes the 2.x keys before it deletes the 1.x one: malformed data
//!   refuses the activation with the store untouched, and an interrupted
//!   migration leaves the 1.x history in place.

use std::fmt;

/// How many rates the history keeps: a day of blocks.
pub const HISTORY_LIMIT: usize = 144;

/// How many of the most recent rates [`estimate`] looks at: an hour of blocks.
pub const ESTIMATE_WINDOW: usize = 6;

/// The key of the 1.x history.
pub const V1_HISTORY_KEY: &str = "history";

/// The key of the 2.x history.
pub const V2_HISTORY_KEY: &str = "history-v2";

/// The key of the 2.x storage-format number.
pub const SCHEMA_KEY: &str = "schema";

/// The value of [`SCHEMA_KEY`] for the 2.x format.
pub const SCHEMA_V2: u64 = 2;

/// The extension's key-value namespace: `anya:host/kv` in a guest
/// ([`guest::HostKv`]), a map in tests. Errors are the host's, as text.
pub trait Kv {
    /// The value under `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Stores `value` under `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<(), String>;
}

/// Why reading, recording or migrating failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The host refused the kv operation `op` (`get`, `set`, `delete`) on `key`.
    Kv {
        op: &'static str,
        key: &'static str,
        reason: String,
    },
    /// The value under `key` is not in the format it should be.
    Malformed { key: &'static str, reason: String },
    /// [`SCHEMA_KEY`] names a storage format this code does not read.
    UnknownSchema(u64),
    /// The `previous-version` given to `activate` is not a version number.
    BadPreviousVersion(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kv { op, key, reason } => write!(f, "kv {op} {key:?}: {reason}"),
            Self::Malformed { key, reason } => {
                write!(f, "kv value under {key:?} is malformed: {reason}")
            }
            Self::UnknownSchema(n) => write!(
                f,
                "kv value under {SCHEMA_KEY:?} is {n}, a storage format this version does not \
                 read (it reads {SCHEMA_V2})"
            ),
            Self::BadPreviousVersion(v) => {
                write!(f, "previous version {v:?} is not a version number")
            }
        }
    }
}

impl std::error::Error for Error {}

/// A storage format of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 1.x: comma-separated decimal text under [`V1_HISTORY_KEY`].
    V1,
    /// 2.x: little-endian u64s under [`V2_HISTORY_KEY`].
    V2,
}

impl Format {
    /// The key this format keeps the history under.
    pub fn key(self) -> &'static str {
        match self {
            Self::V1 => V1_HISTORY_KEY,
            Self::V2 => V2_HISTORY_KEY,
        }
    }

    /// `history` as this format stores it.
    pub fn encode(self, history: &[u64]) -> Vec<u8> {
        match self {
            Self::V1 => {
                let text: Vec<String> = history.iter().map(u64::to_string).collect();
                text.join(",").into_bytes()
            }
            Self::V2 => history.iter().flat_map(|r| r.to_le_bytes()).collect(),
        }
    }

    /// The history in `bytes`, stored in this format; the error says what is
    /// wrong with it.
    pub fn decode(self, bytes: &[u8]) -> Result<Vec<u64>, String> {
        match self {
            Self::V1 => {
                let text =
                    std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))?;
                if text.is_empty() {
                    return Ok(Vec::new());
                }
                text.split(',')
                    .enumerate()
                    .map(|(i, part)| {
                        // `u64::from_str` alone would take a leading `+`.
                        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                            part.parse::<u64>().ok()
                        } else {
                            None
                        }
                        .ok_or_else(|| format!("entry {} ({part:?}) is not a decimal u64", i + 1))
                    })
                    .collect()
            }
            Self::V2 => {
                let chunks = bytes.chunks_exact(8);
                if !chunks.remainder().is_empty() {
                    return Err(format!(
                        "{} bytes, not a whole number of 8-byte u64s",
                        bytes.len()
                    ));
                }
                Ok(chunks
                    .map(|c| {
                        let mut le = [0u8; 8];
                        le.copy_from_slice(c);
                        u64::from_le_bytes(le)
                    })
                    .collect())
            }
        }
    }

    /// The stored history (empty when there is none).
    pub fn load(self, kv: &impl Kv) -> Result<Vec<u64>, Error> {
        let key = self.key();
        match get(kv, key)? {
            None => Ok(Vec::new()),
            Some(bytes) => self
                .decode(&bytes)
                .map_err(|reason| Error::Malformed { key, reason }),
        }
    }

    /// Replaces the stored history with `history`.
    pub fn store(self, kv: &impl Kv, history: &[u64]) -> Result<(), Error> {
        set(kv, self.key(), &self.encode(history))
    }
}

/// Appends `sat_per_vbyte` to the history stored in `format`, dropping the
/// oldest rates beyond [`HISTORY_LIMIT`].
pub fn record(kv: &impl Kv, format: Format, sat_per_vbyte: u64) -> Result<(), Error> {
    let mut history = format.load(kv)?;
    history.push(sat_per_vbyte);
    keep_newest(&mut history);
    format.store(kv, &history)
}

/// The median of the last [`ESTIMATE_WINDOW`] rates of `history` (the lower
/// middle one when there is an even number), or `None` when it is empty.
///
/// The lower middle rather than the mean of the two: the estimate is always
/// a rate that was observed, and stays an integer.
pub fn estimate(history: &[u64]) -> Option<u64> {
    let recent = &history[history.len().saturating_sub(ESTIMATE_WINDOW)..];
    let mut sorted = recent.to_vec();
    sorted.sort_unstable();
    let middle = sorted.len().checked_sub(1)? / 2;
    sorted.get(middle).copied()
}

/// What [`activate_v2`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// The 1.x history (`entries` rates) now is in the 2.x format, and the
    /// 1.x key is gone.
    Migrated { entries: usize },
    /// The data already was in the 2.x format, or there was none (`entries`
    /// rates); at most [`SCHEMA_KEY`] was written.
    Current { entries: usize },
}

/// `lifecycle.activate` of a 2.x version: brings the store to the 2.x format.
///
/// - `previous` is 1.x: converts the 1.x history (absent counts as empty),
///   replacing any 2.x data left over from an earlier 2.x that was rolled
///   back (the 1.x history is newer), writes [`SCHEMA_KEY`], then deletes
///   the 1.x key.
/// - `previous` is `None` (first install) and a 1.x history is there (it
///   outlived an earlier installation): converts it the same way.
/// - otherwise (another 2.x, nothing, or any other version): checks that the
///   data is in the 2.x format ([`SCHEMA_KEY`] absent or 2, a well-formed
///   history) and writes [`SCHEMA_KEY`] when absent. A 1.x key left beside
///   2.x data is stale, and left alone.
///
/// Malformed data is an error before anything is written, so the caller
/// (the host) can refuse the version with the store as it was.
pub fn activate_v2(kv: &impl Kv, previous: Option<&str>) -> Result<Activation, Error> {
    let from_v1 = match previous {
        Some(v) => major(v)? == 1,
        None => get(kv, V1_HISTORY_KEY)?.is_some(),
    };
    if from_v1 {
        let mut history = Format::V1.load(kv)?;
        keep_newest(&mut history);
        Format::V2.store(kv, &history)?;
        set(kv, SCHEMA_KEY, &SCHEMA_V2.to_le_bytes())?;
        delete(kv, V1_HISTORY_KEY)?;
        return Ok(Activation::Migrated {
            entries: history.len(),
        });
    }
    let schema = match get(kv, SCHEMA_KEY)? {
        None => None,
        Some(bytes) => Some(
            <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_le_bytes)
                .map_err(|_| Error::Malformed {
                    key: SCHEMA_KEY,
                    reason: format!("{} bytes, not an 8-byte u64", bytes.len()),
                })?,
        ),
    };
    match schema {
        Some(SCHEMA_V2) | None => {}
        Some(n) => return Err(Error::UnknownSchema(n)),
    }
    let history = Format::V2.load(kv)?;
    if schema.is_none() {
        set(kv, SCHEMA_KEY, &SCHEMA_V2.to_le_bytes())?;
    }
    Ok(Activation::Current {
        entries: history.len(),
    })
}

/// The major version of `version` (`1` of `1.0.0`, `1.2.0-rc.1`, `1`).
pub fn major(version: &str) -> Result<u64, Error> {
    version
        .split(['.', '-', '+'])
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| Error::BadPreviousVersion(version.to_owned()))
}

fn keep_newest(history: &mut Vec<u64>) {
    let excess = history.len().saturating_sub(HISTORY_LIMIT);
    history.drain(..excess);
}

fn get(kv: &impl Kv, key: &'static str) -> Result<Option<Vec<u8>>, Error> {
    kv.get(key).map_err(|reason| Error::Kv {
        op: "get",
        key,
        reason,
    })
}

fn set(kv: &impl Kv, key: &'static str, value: &[u8]) -> Result<(), Error> {
    kv.set(key, value).map_err(|reason| Error::Kv {
        op: "set",
        key,
        reason,
    })
}

fn delete(kv: &impl Kv, key: &'static str) -> Result<(), Error> {
    kv.delete(key).map_err(|reason| Error::Kv {
        op: "delete",
        key,
        reason,
    })
}

/// The `anya:fees/estimator` functions over `anya:host/kv`, for the guests.
#[cfg(feature = "guest")]
pub mod guest {
    use anya_sdk::kv;

    use crate::Format;

    /// The extension's `anya:host/kv` namespace.
    pub struct HostKv;

    impl crate::Kv for HostKv {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            kv::get(key).map_err(describe)
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
            kv::set(key, value).map_err(describe)
        }

        fn delete(&self, key: &str) -> Result<(), String> {
            kv::delete(key).map_err(describe)
        }
    }

    /// A host error as `kind: reason`, the kinds named as in the WIT.
    fn describe(e: kv::Error) -> String {
        match e {
            kv::Error::InvalidKey(why) => format!("invalid-key: {why}"),
            kv::Error::QuotaExceeded(why) => format!("quota-exceeded: {why}"),
            kv::Error::Storage(why) => format!("storage: {why}"),
        }
    }

    /// `estimator.record`.
    pub fn record(format: Format, sat_per_vbyte: u64) -> Result<(), String> {
        crate::record(&HostKv, format, sat_per_vbyte).map_err(|e| e.to_string())
    }

    /// `estimator.estimate`.
    ///
    /// # Panics
    /// When the history cannot be read (the WIT makes that a trap).
    pub fn estimate(format: Format) -> Option<u64> {
        crate::estimate(&history(format))
    }

    /// `estimator.history`.
    ///
    /// # Panics
    /// When the history cannot be read (the WIT makes that a trap).
    pub fn history(format: Format) -> Vec<u64> {
        format
            .load(&HostKv)
            .unwrap_or_else(|e| panic!("fee-estimator: cannot read the history: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    use super::*;

    /// An in-memory [`Kv`]; `fail_set` makes every `set` fail.
    #[derive(Default)]
    struct MemKv {
        map: RefCell<BTreeMap<String, Vec<u8>>>,
        fail_set: Cell<bool>,
    }

    impl MemKv {
        fn with(entries: &[(&str, &[u8])]) -> Self {
            let kv = Self::default();
            for (k, v) in entries {
                kv.map.borrow_mut().insert((*k).to_owned(), v.to_vec());
            }
            kv
        }

        fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
            self.map.borrow().clone()
        }

        fn raw(&self, key: &str) -> Option<Vec<u8>> {
            self.map.borrow().get(key).cloned()
        }
    }

    impl Kv for MemKv {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            Ok(self.raw(key))
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
            if self.fail_set.get() {
                return Err("quota-exceeded: test".into());
            }
            self.map.borrow_mut().insert(key.to_owned(), value.to_vec());
            Ok(())
        }

        fn delete(&self, key: &str) -> Result<(), String> {
            self.map.borrow_mut().remove(key);
            Ok(())
        }
    }

    fn le(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn v1_text_round_trips_and_empty_is_no_history() {
        assert_eq!(Format::V1.encode(&[5, 7, 12]), b"5,7,12");
        assert_eq!(Format::V1.encode(&[]), b"");
        assert_eq!(Format::V1.decode(b"5,7,12"), Ok(vec![5, 7, 12]));
        assert_eq!(Format::V1.decode(b""), Ok(vec![]));
        let big = [0, u64::MAX, 1];
        assert_eq!(
            Format::V1.decode(&Format::V1.encode(&big)),
            Ok(big.to_vec())
        );
    }

    #[test]
    fn v1_refuses_malformed_text_and_names_the_entry() {
        for (bad, entry) in [
            (&b"5,,7"[..], "entry 2 (\"\")"),
            (b"5,7,", "entry 3 (\"\")"),
            (b"5, 7", "entry 2 (\" 7\")"),
            (b"+5", "entry 1 (\"+5\")"),
            (b"5,x", "entry 2 (\"x\")"),
            (b"-1", "entry 1 (\"-1\")"),
            (
                b"18446744073709551616",
                "entry 1 (\"18446744073709551616\")",
            ),
        ] {
            let err = Format::V1.decode(bad).expect_err("malformed");
            assert!(err.starts_with(entry), "{bad:?}: {err}");
        }
        let err = Format::V1.decode(b"5,\xff").expect_err("not UTF-8");
        assert!(err.starts_with("not UTF-8 text"), "{err}");
    }

    #[test]
    fn v2_bytes_round_trip_and_partial_u64s_are_refused() {
        let h = [5, 7, u64::MAX];
        assert_eq!(Format::V2.encode(&h), le(&h));
        assert_eq!(Format::V2.decode(&le(&h)), Ok(h.to_vec()));
        assert_eq!(Format::V2.decode(b""), Ok(vec![]));
        assert_eq!(
            Format::V2.decode(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err("9 bytes, not a whole number of 8-byte u64s".to_owned())
        );
    }

    #[test]
    fn estimate_is_the_lower_median_of_the_last_six() {
        assert_eq!(estimate(&[]), None);
        assert_eq!(estimate(&[9]), Some(9));
        assert_eq!(estimate(&[12, 5, 7]), Some(7));
        assert_eq!(estimate(&[10, 1, 4, 3]), Some(3));
        // Only the last six count: the 1000s are older.
        assert_eq!(estimate(&[1000, 1000, 1000, 2, 2, 2, 9, 9, 9]), Some(2));
        assert_eq!(estimate(&[1, 1, 1, 2, 2, 2, 9, 9, 9]), Some(2));
        assert_eq!(estimate(&[1, 2, 2, 9, 9, 9, 9]), Some(9));
    }

    #[test]
    fn record_appends_in_each_format_and_keeps_the_newest() {
        for format in [Format::V1, Format::V2] {
            let kv = MemKv::default();
            for r in [5, 7, 12] {
                record(&kv, format, r).expect("record");
            }
            assert_eq!(format.load(&kv), Ok(vec![5, 7, 12]), "{format:?}");
            assert_eq!(
                kv.snapshot().len(),
                1,
                "{format:?} writes only its history key"
            );
            for r in 0..HISTORY_LIMIT as u64 {
                record(&kv, format, 100 + r).expect("record");
            }
            let h = format.load(&kv).expect("load");
            assert_eq!(h.len(), HISTORY_LIMIT);
            assert_eq!(h.first(), Some(&100));
            assert_eq!(h.last(), Some(&(99 + HISTORY_LIMIT as u64)));
        }
    }

    #[test]
    fn record_on_malformed_or_refused_storage_changes_nothing() {
        let kv = MemKv::with(&[(V1_HISTORY_KEY, b"5,oops")]);
        let err = record(&kv, Format::V1, 3).expect_err("malformed");
        assert_eq!(
            err.to_string(),
            "kv value under \"history\" is malformed: entry 2 (\"oops\") is not a decimal u64"
        );
        assert_eq!(kv.raw(V1_HISTORY_KEY), Some(b"5,oops".to_vec()));

        let kv = MemKv::with(&[(V2_HISTORY_KEY, &le(&[4]))]);
        kv.fail_set.set(true);
        let err = record(&kv, Format::V2, 3).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "kv set \"history-v2\": quota-exceeded: test"
        );
        assert_eq!(Format::V2.load(&kv), Ok(vec![4]));
    }

    #[test]
    fn activate_from_1x_converts_the_history_and_deletes_the_old_key() {
        let kv = MemKv::with(&[(V1_HISTORY_KEY, b"5,7,12")]);
        let before = Format::V1.load(&kv).expect("v1");
        assert_eq!(
            activate_v2(&kv, Some("1.0.0")),
            Ok(Activation::Migrated { entries: 3 })
        );
        assert_eq!(kv.raw(V1_HISTORY_KEY), None);
        assert_eq!(kv.raw(V2_HISTORY_KEY), Some(le(&[5, 7, 12])));
        assert_eq!(kv.raw(SCHEMA_KEY), Some(le(&[2])));
        let after = Format::V2.load(&kv).expect("v2");
        assert_eq!(after, before);
        assert_eq!(estimate(&after), estimate(&before));
        // A second activation (2.0.0 after itself) keeps the data as it is.
        let migrated = kv.snapshot();
        assert_eq!(
            activate_v2(&kv, Some("2.0.0")),
            Ok(Activation::Current { entries: 3 })
        );
        assert_eq!(kv.snapshot(), migrated);
    }

    #[test]
    fn activate_from_1x_without_history_or_with_stale_2x_data() {
        let kv = MemKv::default();
        assert_eq!(
            activate_v2(&kv, Some("1.4.2-rc.1")),
            Ok(Activation::Migrated { entries: 0 })
        );
        assert_eq!(kv.raw(V2_HISTORY_KEY), Some(Vec::new()));
        assert_eq!(kv.raw(SCHEMA_KEY), Some(le(&[2])));

        // 2.x data from a rolled-back 2.x beside a newer 1.x history: the 1.x one wins.
        let stale = le(&[99, 99]);
        let kv = MemKv::with(&[
            (V1_HISTORY_KEY, b"3"),
            (V2_HISTORY_KEY, &stale),
            (SCHEMA_KEY, &le(&[2])),
        ]);
        assert_eq!(
            activate_v2(&kv, Some("1.0.0")),
            Ok(Activation::Migrated { entries: 1 })
        );
        assert_eq!(Format::V2.load(&kv), Ok(vec![3]));
        assert_eq!(kv.raw(V1_HISTORY_KEY), None);
    }

    #[test]
    fn activate_from_1x_with_malformed_history_fails_before_writing() {
        for bad in [&b"5,,7"[..], b"\xff\xfe", b"12 sat/vB"] {
            let kv = MemKv::with(&[(V1_HISTORY_KEY, bad)]);
            let before = kv.snapshot();
            let err = activate_v2(&kv, Some("1.0.0")).expect_err("malformed");
            assert!(
                matches!(&err, Error::Malformed { key: "history", .. }),
                "{bad:?}: {err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("kv value under \"history\" is malformed: "),
                "{err}"
            );
            assert_eq!(kv.snapshot(), before, "{bad:?}: the store was changed");
        }
    }

    #[test]
    fn activate_fresh_starts_empty_or_adopts_a_leftover_1x_history() {
        let kv = MemKv::default();
        assert_eq!(
            activate_v2(&kv, None),
            Ok(Activation::Current { entries: 0 })
        );
        assert_eq!(kv.snapshot().len(), 1);
        assert_eq!(kv.raw(SCHEMA_KEY), Some(le(&[2])));
        record(&kv, Format::V2, 8).expect("record");
        assert_eq!(Format::V2.load(&kv), Ok(vec![8]));

        let kv = MemKv::with(&[(V1_HISTORY_KEY, b"4,6")]);
        assert_eq!(
            activate_v2(&kv, None),
            Ok(Activation::Migrated { entries: 2 })
        );
        assert_eq!(Format::V2.load(&kv), Ok(vec![4, 6]));
        assert_eq!(kv.raw(V1_HISTORY_KEY), None);
    }

    #[test]
    fn activate_after_2x_checks_its_own_format() {
        // A 2.x history without the schema key gets one; the data stays.
        let kv = MemKv::with(&[(V2_HISTORY_KEY, &le(&[1, 2]))]);
        assert_eq!(
            activate_v2(&kv, Some("2.0.0")),
            Ok(Activation::Current { entries: 2 })
        );
        assert_eq!(kv.raw(SCHEMA_KEY), Some(le(&[2])));
        assert_eq!(Format::V2.load(&kv), Ok(vec![1, 2]));

        // A stale 1.x key beside 2.x data is left alone.
        let kv = MemKv::with(&[(V1_HISTORY_KEY, b"junk"), (SCHEMA_KEY, &le(&[2]))]);
        let before = kv.snapshot();
        assert_eq!(
            activate_v2(&kv, Some("2.1.0")),
            Ok(Activation::Current { entries: 0 })
        );
        assert_eq!(kv.snapshot(), before);

        for (entries, want) in [
            (
                vec![(SCHEMA_KEY, le(&[3]))],
                "kv value under \"schema\" is 3, a storage format this version does not read \
                 (it reads 2)",
            ),
            (
                vec![(SCHEMA_KEY, vec![2])],
                "kv value under \"schema\" is malformed: 1 bytes, not an 8-byte u64",
            ),
            (
                vec![(SCHEMA_KEY, le(&[2])), (V2_HISTORY_KEY, vec![0; 12])],
                "kv value under \"history-v2\" is malformed: 12 bytes, not a whole number of \
                 8-byte u64s",
            ),
        ] {
            let kv = MemKv::default();
            for (k, v) in &entries {
                kv.map.borrow_mut().insert((*k).to_owned(), v.clone());
            }
            // The same refusal after a 2.x, after a newer major (a forced
            // downgrade), and on a first install.
            for previous in [Some("2.0.0"), Some("3.0.0"), None] {
                let err = activate_v2(&kv, previous).expect_err("refused");
                assert_eq!(err.to_string(), want, "{previous:?}");
                assert_eq!(kv.snapshot().len(), entries.len(), "nothing written");
            }
        }
    }

    #[test]
    fn activate_refuses_a_previous_version_that_is_not_one() {
        for bad in ["", "x.1.0", ".1", "v1.0.0"] {
            let kv = MemKv::with(&[(V1_HISTORY_KEY, b"1")]);
            assert_eq!(
                activate_v2(&kv, Some(bad)),
                Err(Error::BadPreviousVersion(bad.to_owned()))
            );
            assert_eq!(kv.raw(V1_HISTORY_KEY), Some(b"1".to_vec()));
        }
        assert_eq!(major("1"), Ok(1));
        assert_eq!(major("10.2.3+build.5"), Ok(10));
    }

    #[test]
    fn activate_reports_a_refused_write() {
        let kv = MemKv::with(&[(V1_HISTORY_KEY, b"1,2")]);
        kv.fail_set.set(true);
        let err = activate_v2(&kv, Some("1.0.0")).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "kv set \"history-v2\": quota-exceeded: test"
        );
        assert_eq!(kv.raw(V1_HISTORY_KEY), Some(b"1,2".to_vec()));
    }
}
