//! Every refusal of TUF's rules, each on its own, and the documents that pass.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{Timestamp, ToSpan};
use semver::Version;

use super::envelope::tests::{key, role};
use super::*;
use crate::ids::ComponentName;
use crate::keys::SecretKey;

/// A fixed instant: these tests never read the wall clock.
fn now() -> Timestamp {
    "2026-11-25T12:00:00Z".parse().unwrap()
}

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn release(version: u64, expires: Timestamp) -> Release {
    let package = |seed: u8| ReleasedPackage {
        sha256: Digest::of(&[seed]),
        length: 74_176,
        oci_digest: Some(format!("sha256:{}", Digest::of(&[seed, 1]).to_hex())),
    };
    Release {
        version,
        expires,
        components: BTreeMap::from([(
            name("bech32"),
            BTreeMap::from([
                (v("1.0.0"), package(1)),
                (v("1.1.0"), package(2)),
                (v("1.1.1"), package(3)),
            ]),
        )]),
        revoked: BTreeMap::from([(name("bech32"), BTreeSet::from([v("1.1.1")]))]),
        rollout_signers: Some(RoleSpec::of(&rollout_keys())),
        release_signers: None,
        rotation: None,
    }
}

fn sealed_release(release: &Release, keys: &[&SecretKey]) -> Vec<u8> {
    envelope::seal(RELEASE_TYPE, &serde_json::to_vec(release).unwrap(), keys)
}

/// Release keys 1, 2, 3 with a threshold of 2 (offline); rollout key 7 (online).
fn release_keys() -> RoleKeys {
    role(&[1, 2, 3], 2)
}

fn rollout_keys() -> RoleKeys {
    role(&[7], 1)
}

fn accepted_release() -> Accepted<Release> {
    let bytes = sealed_release(&release(5, now() + (30 * 24).hours()), &[&key(1), &key(2)]);
    accept_release(&bytes, &release_keys(), None, now()).unwrap()
}

fn rollout_over(release: &Accepted<Release>, version: u64, candidate: &str) -> Rollout {
    Rollout {
        version,
        expires: now() + 72.hours(),
        release: ReleaseRef {
            version: release.seen.version,
            sha256: release.seen.sha256,
        },
        components: BTreeMap::from([(
            name("bech32"),
            Stage {
                stable: v("1.0.0"),
                candidate: Some(v(candidate)),
                basis_points: 100,
                stages: Vec::new(),
                salt: "r1".into(),
                state: RolloutState::Progressing,
            },
        )]),
    }
}

fn sealed_rollout(rollout: &Rollout) -> Vec<u8> {
    envelope::seal(
        ROLLOUT_TYPE,
        &serde_json::to_vec(rollout).unwrap(),
        &[&key(7)],
    )
}

#[test]
fn a_release_signed_by_the_threshold_is_accepted_and_remembered() {
    let accepted = accepted_release();
    assert_eq!(accepted.seen.version, 5);
    let bech32 = name("bech32");
    assert!(
        accepted
            .document
            .installable(&bech32, &v("1.1.0"))
            .is_some()
    );
    assert!(
        accepted
            .document
            .installable(&bech32, &v("1.1.1"))
            .is_none(),
        "revoked"
    );

    // The same document again is fine (a host re-reads it on every check).
    let again = sealed_release(&accepted.document, &[&key(2), &key(3)]);
    let seen = accept_release(&again, &release_keys(), Some(&accepted.seen), now()).unwrap();
    assert_eq!(seen.seen, accepted.seen);
}

#[test]
fn too_few_distinct_release_keys_are_refused() {
    let doc = release(5, now() + (30 * 24).hours());
    for keys in [vec![key(1)], vec![key(1), key(1)], vec![key(1), key(7)]] {
        let refs: Vec<&SecretKey> = keys.iter().collect();
        let err =
            accept_release(&sealed_release(&doc, &refs), &release_keys(), None, now()).unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::Signatures {
                    source: EnvelopeError::BelowThreshold { .. },
                    ..
                }
            ),
            "{err}"
        );
    }
    // The online rollout key cannot sign a release, however valid its signature.
    let err = accept_release(
        &sealed_release(&doc, &[&key(7)]),
        &release_keys(),
        None,
        now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("0 valid signature"), "{err}");
}

#[test]
fn an_older_release_is_a_rollback_and_other_content_at_the_same_version_equivocation() {
    let accepted = accepted_release();
    let older = sealed_release(&release(4, now() + (30 * 24).hours()), &[&key(1), &key(2)]);
    let err = accept_release(&older, &release_keys(), Some(&accepted.seen), now()).unwrap_err();
    assert_eq!(
        err,
        IndexError::Rollback {
            kind: DocumentKind::Release,
            seen: 5,
            offered: 4
        }
    );

    let mut other = release(5, now() + (30 * 24).hours());
    other.revoked.clear();
    let other = sealed_release(&other, &[&key(1), &key(2)]);
    let err = accept_release(&other, &release_keys(), Some(&accepted.seen), now()).unwrap_err();
    assert_eq!(
        err,
        IndexError::Equivocation {
            kind: DocumentKind::Release,
            version: 5
        }
    );

    let newer = sealed_release(&release(6, now() + (30 * 24).hours()), &[&key(1), &key(3)]);
    let next = accept_release(&newer, &release_keys(), Some(&accepted.seen), now()).unwrap();
    assert_eq!(next.seen.version, 6);
}

#[test]
fn an_expired_release_freezes() {
    let expired = sealed_release(&release(5, now() - 1.second()), &[&key(1), &key(2)]);
    let err = accept_release(&expired, &release_keys(), None, now()).unwrap_err();
    assert!(
        matches!(err, IndexError::Expired { version: 5, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("keeps serving"), "{err}");
}

#[test]
fn endless_and_malformed_documents_are_refused_before_use() {
    let endless = vec![b' '; MAX_DOCUMENT_BYTES + 1];
    let err = accept_release(&endless, &release_keys(), None, now()).unwrap_err();
    assert!(matches!(err, IndexError::TooLarge { .. }), "{err}");

    let signed_garbage = envelope::seal(
        RELEASE_TYPE,
        b"{\"version\": \"five\"}",
        &[&key(1), &key(2)],
    );
    let err = accept_release(&signed_garbage, &release_keys(), None, now()).unwrap_err();
    assert!(matches!(err, IndexError::Malformed { .. }), "{err}");

    // A rollout envelope offered as the release is refused by its type.
    let accepted = accepted_release();
    let rollout = sealed_rollout(&rollout_over(&accepted, 1, "1.1.0"));
    let err = accept_release(&rollout, &role(&[7], 1), None, now()).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Signatures {
                source: EnvelopeError::WrongType { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_rollout_is_bound_to_its_release() {
    let accepted = accepted_release();
    let rollout = rollout_over(&accepted, 1, "1.1.0");
    let ok = accept_rollout(
        &sealed_rollout(&rollout),
        &rollout_keys(),
        None,
        &accepted,
        now(),
    )
    .unwrap();
    assert_eq!(ok.document.components[&name("bech32")].basis_points, 100);

    // Naming another release (an older one, or the same version with other content).
    let mut other = rollout.clone();
    other.release.sha256 = Digest::of(b"another release");
    let err = accept_rollout(
        &sealed_rollout(&other),
        &rollout_keys(),
        None,
        &accepted,
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::MixAndMatch { .. }), "{err}");

    // A candidate the release revoked, or does not list.
    for (candidate, why) in [("1.1.1", "revoked"), ("9.0.0", "does not list")] {
        let bad = rollout_over(&accepted, 2, candidate);
        let err = accept_rollout(
            &sealed_rollout(&bad),
            &rollout_keys(),
            None,
            &accepted,
            now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }

    // Rollback, equivocation and expiry apply to rollouts as to releases.
    let err = accept_rollout(
        &sealed_rollout(&rollout_over(&accepted, 0, "1.1.0")),
        &rollout_keys(),
        Some(&ok.seen),
        &accepted,
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Rollback { .. }), "{err}");
    let mut paused = rollout.clone();
    paused.components.get_mut(&name("bech32")).unwrap().state = RolloutState::Paused;
    let err = accept_rollout(
        &sealed_rollout(&paused),
        &rollout_keys(),
        Some(&ok.seen),
        &accepted,
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Equivocation { .. }), "{err}");
    let mut stale = rollout.clone();
    stale.version = 3;
    stale.expires = now();
    let err = accept_rollout(
        &sealed_rollout(&stale),
        &rollout_keys(),
        Some(&ok.seen),
        &accepted,
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Expired { .. }), "{err}");

    // Release keys do not sign rollouts, nor the rollout key releases.
    let by_release_keys = envelope::seal(
        ROLLOUT_TYPE,
        &serde_json::to_vec(&rollout).unwrap(),
        &[&key(1), &key(2)],
    );
    let err =
        accept_rollout(&by_release_keys, &rollout_keys(), None, &accepted, now()).unwrap_err();
    assert!(matches!(err, IndexError::Signatures { .. }), "{err}");
}

#[test]
fn a_rollout_neither_outlives_its_release_nor_keeps_a_revoked_stable() {
    let accepted = accepted_release();
    let rollout = rollout_over(&accepted, 1, "1.1.0");
    let later = now() + (31 * 24).hours();
    let mut fresh = rollout.clone();
    fresh.expires = later + 24.hours();
    let err = accept_rollout(
        &sealed_rollout(&fresh),
        &rollout_keys(),
        None,
        &accepted,
        later,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Expired {
                kind: DocumentKind::Release,
                ..
            }
        ),
        "{err}"
    );

    let mut revoked_stable = rollout.clone();
    revoked_stable
        .components
        .get_mut(&name("bech32"))
        .unwrap()
        .stable = v("1.1.1");
    let err = accept_rollout(
        &sealed_rollout(&revoked_stable),
        &rollout_keys(),
        None,
        &accepted,
        now(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("1.1.1, which the release revoked"),
        "{err}"
    );
}

#[test]
fn an_envelope_with_endless_signatures_is_refused_unread() {
    let keys: Vec<SecretKey> = (0..=envelope::MAX_SIGNATURES as u8).map(key).collect();
    let refs: Vec<&SecretKey> = keys.iter().collect();
    let sealed = sealed_release(&release(5, now() + (30 * 24).hours()), &refs);
    let err = accept_release(&sealed, &release_keys(), None, now()).unwrap_err();
    assert!(err.to_string().contains("signatures; at most"), "{err}");
}

#[test]
fn release_keys_rotate_when_old_and_new_keys_both_sign() {
    let first = accepted_release();
    // Keys 4 and 5 take over from 1, 2, 3.
    let mut doc = release(6, now() + (30 * 24).hours());
    doc.release_signers = Some(RoleSpec::of(&role(&[4, 5], 2)));

    // Signed by the old threshold only: the new keys never proved they are held.
    let err = accept_release(
        &sealed_release(&doc, &[&key(1), &key(2)]),
        &release_keys(),
        Some(&first.seen),
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Rotation { .. }), "{err}");

    // Signed by both thresholds: accepted; the next release needs the new keys alone.
    let rotated = accept_release(
        &sealed_release(&doc, &[&key(1), &key(2), &key(4), &key(5)]),
        &release_keys(),
        Some(&first.seen),
        now(),
    )
    .unwrap();
    let new_keys = rotated
        .document
        .release_signers
        .as_ref()
        .unwrap()
        .keys()
        .unwrap();
    let later = release(7, now() + (30 * 24).hours());
    accept_release(
        &sealed_release(&later, &[&key(4), &key(5)]),
        &new_keys,
        Some(&rotated.seen),
        now(),
    )
    .unwrap();
    let err = accept_release(
        &sealed_release(&later, &[&key(1), &key(2)]),
        &new_keys,
        Some(&rotated.seen),
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Signatures { .. }), "{err}");

    // A role that is no role (threshold above its keys) is refused as malformed.
    let mut bad = release(6, now() + (30 * 24).hours());
    bad.rollout_signers = Some(RoleSpec {
        keys: vec![key(7).public().to_hex()],
        threshold: 2,
    });
    let err = accept_release(
        &sealed_release(&bad, &[&key(1), &key(2)]),
        &release_keys(),
        Some(&first.seen),
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Malformed { .. }), "{err}");
}

#[test]
fn a_host_that_missed_a_hand_over_follows_the_chain_the_next_release_carries() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let first = accepted_release();
    // Release 2 hands over from 1, 2, 3 (threshold 2) to key 4; this host never sees it.
    let mut handover = release(6, now() + (30 * 24).hours());
    handover.release_signers = Some(RoleSpec::of(&role(&[4], 1)));
    let handover = sealed_release(&handover, &[&key(1), &key(2), &key(4)]);
    // Release 3, signed by key 4 alone, carries it.
    let mut third = release(7, now() + (30 * 24).hours());
    third.rotation = Some(b64(&handover));
    let third = sealed_release(&third, &[&key(4)]);

    let accepted = accept_release(&third, &release_keys(), Some(&first.seen), now()).unwrap();
    assert_eq!(accepted.signed_by.keys, vec![key(4).public()]);

    // A hand-over the trusted keys never signed is no hand-over.
    let mut forged = release(6, now() + (30 * 24).hours());
    forged.release_signers = Some(RoleSpec::of(&role(&[9], 1)));
    let forged = sealed_release(&forged, &[&key(9)]);
    let mut fourth = release(8, now() + (30 * 24).hours());
    fourth.rotation = Some(b64(&forged));
    let fourth = sealed_release(&fourth, &[&key(9)]);
    let err = accept_release(&fourth, &release_keys(), Some(&first.seen), now()).unwrap_err();
    assert!(matches!(err, IndexError::Rotation { .. }), "{err}");
}
