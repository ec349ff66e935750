//! The reference rules against every vector the BIP validators run, on the
//! host: the same data as `bip141-vectors` … `bip341-vectors`, called
//! through this crate's Rust API instead of the component's exports.

use anya_bitcoin::{Reference, hex, psbt, schnorr, sighash, taproot, tx};
use anya_bitcoin_vectors::bip174::Expect;
use anya_bitcoin_vectors::segwit::{LEGACY, SEGWIT};
use anya_bitcoin_vectors::{bip143, bip174, bip340, bip341, unhex};
use anya_sdk::bitcoin::module::types::psbt::PsbtError;
use anya_sdk::bitcoin::module::types::sighash::TaprootSpend;
use anya_sdk::bitcoin::module::types::transaction::TxOut;

#[test]
fn bip143_every_worked_example_sighash() {
    for v in bip143::VECTORS {
        let t = tx::decode(&unhex(v.unsigned_tx)).unwrap();
        let got = sighash::segwit_v0::<Reference>(
            &t,
            v.input,
            &unhex(v.script_code),
            v.amount,
            v.hash_type,
        )
        .unwrap();
        assert_eq!(hex(&got), v.sighash, "{}", v.name);
    }
}

#[test]
fn bip141_and_bip144_sizes_ids_and_round_trips() {
    for t in SEGWIT {
        let decoded = tx::decode(&unhex(t.hex)).unwrap();
        let s = tx::sizes::<Reference>(&decoded).unwrap();
        assert_eq!(
            [s.base_size, s.total_size, s.weight, s.vsize],
            [t.base_size, t.total_size, t.weight, t.vsize],
            "{}",
            t.name
        );
        assert_eq!(hex(&tx::txid(&decoded).unwrap()), t.txid, "{}", t.name);
        assert_eq!(hex(&tx::wtxid(&decoded).unwrap()), t.wtxid, "{}", t.name);
        assert_eq!(
            hex(&tx::encode(&decoded, true).unwrap()),
            t.hex,
            "{}",
            t.name
        );
        assert_eq!(
            hex(&tx::encode(&decoded, false).unwrap()),
            t.legacy,
            "{}",
            t.name
        );
    }
    for t in LEGACY {
        let decoded = tx::decode(&unhex(t.hex)).unwrap();
        assert!(!tx::has_witness(&decoded), "{}", t.name);
        let s = tx::sizes::<Reference>(&decoded).unwrap();
        assert_eq!((s.weight, s.vsize), (t.size * 4, t.size), "{}", t.name);
        assert_eq!(hex(&tx::wtxid(&decoded).unwrap()), t.txid, "{}", t.name);
    }
}

#[test]
fn bip174_every_vector_is_refused_or_decoded_as_the_bip_says() {
    for v in bip174::VECTORS {
        let got = psbt::decode::<Reference>(&unhex(v.hex));
        match v.expect {
            Expect::Invalid => match got {
                Err(PsbtError::DuplicateKey(_)) => {
                    assert!(v.name.contains("duplicate-keys"), "{}", v.name)
                }
                Err(e) => assert!(
                    !v.name.contains("duplicate-keys"),
                    "{} refused as {e:?}",
                    v.name
                ),
                Ok(_) => panic!("{} decoded", v.name),
            },
            Expect::Valid | Expect::FailsSignerChecks => {
                if let Err(e) = got {
                    panic!("{} refused: {e:?}", v.name);
                }
            }
        }
    }
}

#[test]
fn bip340_every_row() {
    for v in bip340::VECTORS {
        let (pk, msg, sig) = (unhex(v.public_key), unhex(v.message), unhex(v.signature));
        if !v.secret_key.is_empty() {
            let sk = unhex(v.secret_key);
            assert_eq!(schnorr::public_key(&sk).unwrap(), pk, "row {}", v.index);
            let signed = schnorr::sign(&sk, &msg, &unhex(v.aux_rand)).unwrap();
            assert_eq!(signed, sig, "row {}", v.index);
        }
        assert_eq!(
            schnorr::verify(&pk, &msg, &sig).is_ok(),
            v.valid,
            "row {} ({})",
            v.index,
            v.comment
        );
    }
}

#[test]
fn bip341_tweaks_and_key_path_sighashes() {
    for v in bip341::SCRIPT_PUBKEYS {
        let root = v.merkle_root.map(unhex);
        let t = taproot::tweak(&unhex(v.internal_key), root.as_deref()).unwrap();
        assert_eq!(hex(&t.tweak), v.tweak, "scriptPubKey {}", v.index);
        assert_eq!(hex(&t.output_key), v.output_key, "scriptPubKey {}", v.index);
    }
    let unsigned = tx::decode(&unhex(bip341::KEY_PATH.unsigned_tx)).unwrap();
    let spent: Vec<TxOut> = bip341::KEY_PATH
        .spent
        .iter()
        .map(|(value, spk)| TxOut {
            value: *value,
            script_pubkey: unhex(spk),
        })
        .collect();
    let key_path = TaprootSpend {
        annex: None,
        script_path: None,
    };
    for v in bip341::KEY_PATH.inputs {
        let msg =
            sighash::taproot_sig_msg(&unsigned, v.input, &spent, v.hash_type, &key_path).unwrap();
        // The vectors' sigMsg starts with the epoch byte.
        assert_eq!(format!("00{}", hex(&msg)), v.sig_msg, "input {}", v.input);
        let got = sighash::taproot::<Reference>(&unsigned, v.input, &spent, v.hash_type, &key_path)
            .unwrap();
        assert_eq!(hex(&got), v.sighash, "input {}", v.input);
    }
}
