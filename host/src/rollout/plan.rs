//! Pure edits of a rollout document. Every edit makes the *next* document (version + 1,
//! a fresh expiry, bound to the release the registry holds now): the metadata never goes
//! back, even when the fleet does.

use jiff::{SignedDuration, Timestamp};
use semver::Version;

use super::registry::RolloutError;
use crate::ids::ComponentName;
use crate::index::documents::ALL_HOSTS;
use crate::index::{Release, ReleaseRef, Rollout, RolloutState, Stage};

/// The shares a candidate goes through, in basis points, ascending, ending at all hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages(Vec<u16>);

impl Stages {
    /// `1,5,25,50,100`: percentages (decimals allowed down to 0.01), strictly ascending,
    /// the last 100.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut points = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let percent: f64 = part
                .parse()
                .map_err(|_| format!("{part:?} is not a percentage"))?;
            if !(percent > 0.0 && percent <= 100.0) {
                return Err(format!("{part}%: a stage is above 0% and at most 100%"));
            }
            let bp = (percent * 100.0).round();
            if (bp - percent * 100.0).abs() > 1e-6 {
                return Err(format!("{part}%: a stage is a whole number of 0.01%"));
            }
            let bp = bp as u16;
            if points.last().is_some_and(|last| *last >= bp) {
                return Err(format!("{part}%: stages must grow"));
            }
            points.push(bp);
        }
        if points.last() != Some(&ALL_HOSTS) {
            return Err("the last stage must be 100%".into());
        }
        Ok(Self(points))
    }

    pub fn basis_points(&self) -> &[u16] {
        &self.0
    }
}

/// What a promotion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "to")]
pub enum Promotion {
    /// To the next stage's share.
    Stage { basis_points: u16 },
    /// The last stage passed: the candidate is the new stable.
    Completed,
}

/// The document after `current` (or a fresh one), numbered after `after` (the version
/// of whatever the registry holds), bound to `release`, expiring after `lifetime`.
pub fn next_document(
    current: Option<&Rollout>,
    after: Option<u64>,
    release: ReleaseRef,
    now: Timestamp,
    lifetime: SignedDuration,
) -> Result<Rollout, RolloutError> {
    let version = match after {
        None => 1,
        Some(v) => v.checked_add(1).ok_or(RolloutError::VersionsExhausted)?,
    };
    Ok(Rollout {
        version,
        expires: now.saturating_add(lifetime).unwrap_or(Timestamp::MAX),
        release,
        components: current.map(|c| c.components.clone()).unwrap_or_default(),
    })
}

/// Starts rolling `candidate` of `name` out through `stages`, from `stable` (given, or
/// the stable of the last rollout of `name`, or the newest released version below the
/// candidate). `salt` makes this rollout's cohort its own.
pub fn start(
    document: &mut Rollout,
    release: &Release,
    name: &ComponentName,
    candidate: &Version,
    stable: Option<&Version>,
    stages: &Stages,
    salt: String,
) -> Result<(), RolloutError> {
    if let Some(existing) = document.components.get(name)
        && let Some(running) = &existing.candidate
        && existing.state != RolloutState::Aborted
    {
        return Err(RolloutError::InProgress {
            name: name.clone(),
            candidate: running.clone(),
        });
    }
    let installable = |v: &Version| release.installable(name, v).is_some();
    if !installable(candidate) {
        return Err(RolloutError::NotReleased {
            name: name.clone(),
            version: candidate.clone(),
        });
    }
    let stable = match stable {
        Some(v) => v.clone(),
        None => match document.components.get(name) {
            Some(existing) => existing.stable.clone(),
            None => release
                .components
                .get(name)
                .into_iter()
                .flat_map(|versions| versions.keys())
                .rfind(|v| *v < candidate && installable(v))
                .cloned()
                .ok_or_else(|| RolloutError::NoStable {
                    name: name.clone(),
                    candidate: candidate.clone(),
                })?,
        },
    };
    if !installable(&stable) {
        return Err(RolloutError::NotReleased {
            name: name.clone(),
            version: stable,
        });
    }
    if stable >= *candidate {
        return Err(RolloutError::NotAbove {
            name: name.clone(),
            candidate: candidate.clone(),
            stable,
        });
    }
    document.components.insert(
        name.clone(),
        Stage {
            stable,
            candidate: Some(candidate.clone()),
            basis_points: stages.basis_points()[0],
            stages: stages.basis_points().to_vec(),
            salt,
            state: RolloutState::Progressing,
        },
    );
    Ok(())
}

/// Moves `name`'s candidate to its next stage, or makes it stable after the last.
pub fn promote(document: &mut Rollout, name: &ComponentName) -> Result<Promotion, RolloutError> {
    let stage = active_stage(document, name)?;
    let next = stage
        .stages
        .iter()
        .copied()
        .find(|bp| *bp > stage.basis_points);
    Ok(match next {
        Some(basis_points) => {
            stage.basis_points = basis_points;
            Promotion::Stage { basis_points }
        }
        None => {
            stage.stable = stage.candidate.take().expect("an active stage has one");
            stage.basis_points = 0;
            stage.stages.clear();
            stage.state = RolloutState::Progressing;
            Promotion::Completed
        }
    })
}

/// Pauses, resumes or aborts `name`'s rollout. Aborting sends every host to stable (the
/// cohort rolls back); it cannot be resumed: start again.
pub fn set_state(
    document: &mut Rollout,
    name: &ComponentName,
    state: RolloutState,
) -> Result<(), RolloutError> {
    let stage = active_stage(document, name)?;
    stage.state = state;
    Ok(())
}

/// The stage of `name` with a candidate on its way (progressing or paused).
fn active_stage<'a>(
    document: &'a mut Rollout,
    name: &ComponentName,
) -> Result<&'a mut Stage, RolloutError> {
    match document.components.get_mut(name) {
        Some(stage) if stage.candidate.is_some() && stage.state != RolloutState::Aborted => {
            Ok(stage)
        }
        _ => Err(RolloutError::NoActiveRollout { name: name.clone() }),
    }
}

/// Makes `document` fit `release`, so that hosts accept it and nothing is rolled out
/// behind the controller's back. Returns what it changed, for the operator.
///
/// - A component the document does not name yet is pinned at its newest released version:
///   a version released later reaches hosts only through `start`, never because a cron job
///   re-signed the document over a new release.
/// - A revoked candidate aborts its rollout (and is no longer named).
/// - A revoked stable gives way to the newest released version below it (or, if none,
///   the component is dropped: hosts then take what the release lists).
pub fn rebind(document: &mut Rollout, release: &Release) -> Vec<String> {
    let mut changes = Vec::new();
    for (name, versions) in &release.components {
        if document.components.contains_key(name) {
            continue;
        }
        let newest = versions.keys().rfind(|v| !release.is_revoked(name, v));
        if let Some(newest) = newest {
            document
                .components
                .insert(name.clone(), Stage::pinned(newest.clone()));
        }
    }
    document.components.retain(|name, stage| {
        if let Some(candidate) = &stage.candidate
            && release.installable(name, candidate).is_none()
        {
            changes.push(format!(
                "{name}: the release no longer gives {candidate}: its rollout is aborted"
            ));
            stage.candidate = None;
            stage.state = RolloutState::Aborted;
            stage.stages.clear();
        }
        if release.installable(name, &stage.stable).is_some() {
            return true;
        }
        let below = release
            .components
            .get(name)
            .into_iter()
            .flat_map(|versions| versions.keys())
            .rfind(|v| **v < stage.stable && release.installable(name, v).is_some());
        match below {
            Some(v) => {
                changes.push(format!(
                    "{name}: the release no longer gives {}: stable is {v} now",
                    stage.stable
                ));
                stage.stable = v.clone();
                true
            }
            None => {
                changes.push(format!(
                    "{name}: the release gives no version at or below {}: no longer named",
                    stage.stable
                ));
                false
            }
        }
    });
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Digest;
    use crate::index::ReleasedPackage;

    fn name() -> ComponentName {
        ComponentName::parse("fee").unwrap()
    }

    fn release(versions: &[&str]) -> Release {
        let listed = versions
            .iter()
            .map(|v| {
                (
                    Version::parse(v).unwrap(),
                    ReleasedPackage {
                        sha256: Digest::of(v.as_bytes()),
                        length: 1,
                        oci_digest: None,
                    },
                )
            })
            .collect();
        Release {
            version: 1,
            expires: Timestamp::MAX,
            components: [(name(), listed)].into(),
            revoked: Default::default(),
            rollout_signers: None,
            release_signers: None,
            rotation: None,
        }
    }

    fn document() -> Rollout {
        next_document(
            None,
            None,
            ReleaseRef {
                version: 1,
                sha256: Digest::of(b"r"),
            },
            Timestamp::UNIX_EPOCH,
            SignedDuration::from_hours(72),
        )
        .unwrap()
    }

    #[test]
    fn stages_are_ascending_percentages_ending_at_all_hosts() {
        assert_eq!(
            Stages::parse("1, 5,25,50,100").unwrap().basis_points(),
            &[100, 500, 2500, 5000, 10_000]
        );
        assert_eq!(
            Stages::parse("0.5,100").unwrap().basis_points(),
            &[50, 10_000]
        );
        for bad in [
            "",
            "5,1,100",
            "1,50",
            "0,100",
            "1,101",
            "x,100",
            "0.001,100",
            "5,5,100",
        ] {
            assert!(Stages::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_candidate_goes_stage_by_stage_then_becomes_stable() {
        let release = release(&["1.0.0", "1.1.0"]);
        let mut doc = document();
        let stages = Stages::parse("1,50,100").unwrap();
        start(
            &mut doc,
            &release,
            &name(),
            &Version::new(1, 1, 0),
            None,
            &stages,
            "s".into(),
        )
        .unwrap();
        let stage = &doc.components[&name()];
        assert_eq!(stage.stable, Version::new(1, 0, 0));
        assert_eq!(stage.basis_points, 100);
        // A second start while one is under way is refused.
        let err = start(
            &mut doc,
            &release,
            &name(),
            &Version::new(1, 1, 0),
            None,
            &stages,
            "t".into(),
        );
        assert!(matches!(err, Err(RolloutError::InProgress { .. })));
        assert_eq!(
            promote(&mut doc, &name()).unwrap(),
            Promotion::Stage { basis_points: 5000 }
        );
        assert_eq!(
            promote(&mut doc, &name()).unwrap(),
            Promotion::Stage {
                basis_points: 10_000
            }
        );
        assert_eq!(promote(&mut doc, &name()).unwrap(), Promotion::Completed);
        let stage = &doc.components[&name()];
        assert_eq!(
            (stage.stable.clone(), stage.candidate.clone()),
            (Version::new(1, 1, 0), None)
        );
        assert!(matches!(
            promote(&mut doc, &name()),
            Err(RolloutError::NoActiveRollout { .. })
        ));
        let next = next_document(
            Some(&doc),
            Some(doc.version),
            doc.release,
            Timestamp::UNIX_EPOCH,
            SignedDuration::from_hours(1),
        )
        .unwrap();
        assert_eq!(next.version, 2);
        let err = next_document(
            Some(&doc),
            Some(u64::MAX),
            doc.release,
            Timestamp::UNIX_EPOCH,
            SignedDuration::from_hours(1),
        );
        assert!(matches!(err, Err(RolloutError::VersionsExhausted)));
    }

    #[test]
    fn an_abort_sends_everyone_back_and_cannot_be_resumed() {
        let release = release(&["1.0.0", "1.1.0", "1.2.0"]);
        let mut doc = document();
        let stages = Stages::parse("10,100").unwrap();
        start(
            &mut doc,
            &release,
            &name(),
            &Version::new(1, 2, 0),
            Some(&Version::new(1, 0, 0)),
            &stages,
            "s".into(),
        )
        .unwrap();
        set_state(&mut doc, &name(), RolloutState::Aborted).unwrap();
        assert_eq!(
            doc.components[&name()].target(&name(), "any"),
            &Version::new(1, 0, 0)
        );
        assert!(set_state(&mut doc, &name(), RolloutState::Progressing).is_err());
        // A new start after an abort is allowed, from the same stable.
        start(
            &mut doc,
            &release,
            &name(),
            &Version::new(1, 1, 0),
            None,
            &stages,
            "t".into(),
        )
        .unwrap();
        assert_eq!(doc.components[&name()].stable, Version::new(1, 0, 0));
    }

    #[test]
    fn start_refuses_what_the_release_does_not_give() {
        let mut release = release(&["1.0.0", "1.1.0"]);
        let mut doc = document();
        let stages = Stages::parse("100").unwrap();
        let err = start(
            &mut doc,
            &release,
            &name(),
            &Version::new(2, 0, 0),
            None,
            &stages,
            "s".into(),
        );
        assert!(matches!(err, Err(RolloutError::NotReleased { .. })));
        let err = start(
            &mut doc,
            &release,
            &name(),
            &Version::new(1, 0, 0),
            None,
            &stages,
            "s".into(),
        );
        assert!(matches!(err, Err(RolloutError::NoStable { .. })));
        let err = start(
            &mut doc,
            &release,
            &name(),
            &Version::new(1, 0, 0),
            Some(&Version::new(1, 1, 0)),
            &stages,
            "s".into(),
        );
        assert!(matches!(err, Err(RolloutError::NotAbove { .. })));
        // A candidate revoked after the start aborts on re-binding.
        start(
            &mut doc,
            &release,
            &name(),
            &Version::new(1, 1, 0),
            None,
            &stages,
            "s".into(),
        )
        .unwrap();
        release
            .revoked
            .insert(name(), [Version::new(1, 1, 0)].into());
        let changes = rebind(&mut doc, &release);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(doc.components[&name()].state, RolloutState::Aborted);
        assert_eq!(doc.components[&name()].candidate, None);
    }

    #[test]
    fn rebinding_pins_new_components_and_moves_off_a_revoked_stable() {
        let mut release = release(&["1.0.0", "1.1.0"]);
        let mut doc = document();
        assert!(rebind(&mut doc, &release).is_empty());
        let stage = &doc.components[&name()];
        assert_eq!(
            (stage.stable.clone(), stage.candidate.clone()),
            (Version::new(1, 1, 0), None)
        );
        // A later release with a newer version does not move the pin.
        let package = release.components[&name()][&Version::new(1, 0, 0)].clone();
        release
            .components
            .get_mut(&name())
            .unwrap()
            .insert(Version::new(1, 2, 0), package);
        assert!(rebind(&mut doc, &release).is_empty());
        assert_eq!(doc.components[&name()].stable, Version::new(1, 1, 0));
        // A revoked stable gives way to the newest version below it.
        release
            .revoked
            .insert(name(), [Version::new(1, 1, 0)].into());
        let changes = rebind(&mut doc, &release);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(doc.components[&name()].stable, Version::new(1, 0, 0));
        release.revoked.insert(
            name(),
            [Version::new(1, 0, 0), Version::new(1, 1, 0)].into(),
        );
        rebind(&mut doc, &release);
        assert!(!doc.components.contains_key(&name()));
    }
}
