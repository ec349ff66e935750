//! The outcome each bech32 build must get from each validator, checked on
//! the host with the same code the plugins run (`anya-bech32`) and the same
//! checks the validators run.

use anya_address_vectors::{Candidate, Case, Decoded, bip173, bip350, run};
use anya_bech32::Rules;

/// What the bech32 plugins do: 1.0.0 uses BIP-173 rules, 1.1.0 BIP-350;
/// the broken 1.1.1 lower-cases its input first.
struct Build {
    rules: Rules,
    fold_case: bool,
}

const V1_0_0: Build = Build {
    rules: Rules::Bip173,
    fold_case: false,
};
const V1_1_0: Build = Build {
    rules: Rules::Bip350,
    fold_case: false,
};
const BROKEN: Build = Build {
    rules: Rules::Bip350,
    fold_case: true,
};

impl Candidate for Build {
    fn decode(&self, address: &str) -> Result<Decoded, String> {
        let address = if self.fold_case {
            address.to_ascii_lowercase()
        } else {
            address.to_owned()
        };
        anya_bech32::decode(&address, self.rules)
            .map(|s| Decoded {
                hrp: s.hrp,
                witness_version: s.version,
                program: s.program,
            })
            .map_err(|e| e.to_string())
    }

    fn encode(&self, hrp: &str, witness_version: u8, program: &[u8]) -> Result<String, String> {
        anya_bech32::encode(hrp, witness_version, program, self.rules).map_err(|e| e.to_string())
    }
}

fn failed(cases: &[Case]) -> Vec<&str> {
    cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect()
}

fn bip173_cases(build: &Build) -> Vec<Case> {
    run("BIP-173", bip173::VALID, bip173::INVALID, build)
}

fn bip350_cases(build: &Build) -> Vec<Case> {
    run("BIP-350", bip350::VALID, bip350::INVALID, build)
}

#[test]
fn one_case_per_vector_with_unique_names() {
    let cases = bip350_cases(&V1_1_0);
    assert_eq!(cases.len(), bip350::VALID.len() + bip350::INVALID.len());
    let mut names: Vec<_> = cases.iter().map(|c| c.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len());
    assert_eq!(bip173_cases(&V1_1_0).len(), 3 + 22);
    assert_eq!(cases.len(), 8 + 29);
}

#[test]
fn bech32_1_1_0_passes_both_validators() {
    for cases in [bip173_cases(&V1_1_0), bip350_cases(&V1_1_0)] {
        assert_eq!(failed(&cases), Vec::<&str>::new(), "{cases:#?}");
    }
}

#[test]
fn bech32_1_0_0_passes_bip173_and_fails_the_bech32m_cases_of_bip350() {
    assert_eq!(failed(&bip173_cases(&V1_0_0)), Vec::<&str>::new());
    let cases = bip350_cases(&V1_0_0);
    assert_eq!(
        failed(&cases),
        [
            "valid/bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
            "valid/BC1SW50QGDZ25J",
            "valid/bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
            "valid/tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
            "valid/bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            "invalid/bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
            "invalid/tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
            "invalid/BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
        ]
    );
    let refused = cases
        .iter()
        .find(|c| c.name == "valid/BC1SW50QGDZ25J")
        .unwrap();
    assert!(
        refused.detail.contains("BIP-350 lists as valid")
            && refused.detail.contains("invalid checksum variant"),
        "{}",
        refused.detail
    );
}

#[test]
fn the_broken_build_fails_bip173_on_the_mixed_case_vector() {
    let cases = bip173_cases(&BROKEN);
    let mixed = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7";
    assert_eq!(failed(&cases), [format!("invalid/{mixed}")]);
    let case = cases.iter().find(|c| !c.passed).unwrap();
    assert!(
        case.detail.contains(mixed) && case.detail.contains("mixed case"),
        "{}",
        case.detail
    );
}

#[test]
fn the_superseded_bip173_vectors_are_invalid_under_bip350() {
    for v in bip173::SUPERSEDED {
        assert!(V1_0_0.decode(v.address).is_ok(), "{}", v.address);
        let err = V1_1_0
            .decode(v.address)
            .err()
            .unwrap_or_else(|| panic!("{}", v.address));
        assert!(err.contains("bech32m"), "{}: {err}", v.address);
    }
}

#[test]
fn case_names_escape_unprintable_characters() {
    let cases = bip173_cases(&V1_1_0);
    for want in [
        "invalid/\\u{20}1nwldj5",
        "invalid/\\u{80}1eym55h",
        "invalid/de1lg7wt\\u{ff}",
    ] {
        assert!(cases.iter().any(|c| c.name == want), "no case {want}");
    }
}
