//! The golang.org/x/mod/sumdb/note reference key and note, checkpoint round trips, and
//! tampered or malformed notes, keys and checkpoint bodies.

use super::*;
use crate::audit::merkle::{Hash, leaf_hash};

// The example key pair and note of golang.org/x/mod/sumdb/note's tests and documentation.
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const SIGNATURE_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcEl\
                              ZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

const ORIGIN: &str = "tally.example.com/w/ws_1";

fn peter() -> Signer {
    Signer::from_skey(SKEY).expect("the reference signer key")
}

fn reference_note() -> String {
    format!("{TEXT}\n{SIGNATURE_LINE}")
}

fn checkpoint(tree_size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.to_string(),
        tree_size,
        root_hash: leaf_hash(&tree_size.to_be_bytes()),
        timestamp: 1_790_000_000,
    }
}

fn log_signer(seed: u8) -> Signer {
    Signer::new(ORIGIN, [seed; 32]).expect("a valid name")
}

#[test]
fn reference_keys_match_the_go_implementation() {
    let signer = peter();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.key_id_hex(), "c74f20a3");
    assert_eq!(signer.vkey(), VKEY);
    assert_eq!(signer.skey(), SKEY);
    let verifier = Verifier::from_vkey(VKEY).expect("the reference verifier key");
    assert_eq!(verifier, signer.verifier());
    assert_eq!(
        (verifier.name(), verifier.key_id_hex()),
        ("PeterNeumann", "c74f20a3".into())
    );
    assert_eq!(verifier.public_key(), signer.public_key());
    assert_eq!(verifier.vkey(), VKEY);
    assert_eq!(VKEY.parse::<Verifier>().ok(), Some(verifier));
}

#[test]
fn signing_reproduces_the_go_reference_note_byte_for_byte() {
    assert_eq!(sign_note(&peter(), TEXT).ok(), Some(reference_note()));
    let verifier = Verifier::from_vkey(VKEY).expect("the reference verifier key");
    let opened = open_note(&reference_note(), &[verifier]).expect("the reference note verifies");
    assert_eq!(opened.text, TEXT);
    assert_eq!(
        opened.signed_by,
        vec![("PeterNeumann".to_string(), 0xc74f20a3)]
    );
}

#[test]
fn mangled_verifier_keys_are_refused() {
    let bytes = VKEY.as_bytes();
    for i in 0..bytes.len() {
        for j in i + 1..=bytes.len() {
            if (i, j) != (0, bytes.len()) {
                let part = &VKEY[i..j];
                assert!(Verifier::from_vkey(part).is_err(), "{part:?} accepted");
            }
        }
        let mut changed = bytes.to_vec();
        changed[i] += 1;
        let changed = String::from_utf8(changed).expect("still ASCII");
        assert!(
            Verifier::from_vkey(&changed).is_err(),
            "{changed:?} accepted"
        );
    }
    // From the Go tests: a key of the wrong length and an unknown algorithm, each with the
    // key id recomputed to match, so only the key itself is wrong.
    let long = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==";
    let unknown_algorithm = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    for vkey in [long, unknown_algorithm] {
        assert!(matches!(
            Verifier::from_vkey(vkey),
            Err(NoteError::MalformedVerifierKey(_))
        ));
    }
}

#[test]
fn malformed_signer_keys_and_names_are_refused() {
    let wrong_id = SKEY.replace("c74f20a3", "c74f20a4");
    let no_prefix = SKEY.replace("PRIVATE+KEY+", "");
    for skey in [
        wrong_id.as_str(),
        &no_prefix,
        &SKEY[..SKEY.len() - 4],
        "PRIVATE+KEY+x",
    ] {
        assert!(Signer::from_skey(skey).is_err(), "{skey:?} accepted");
    }
    for name in ["", "two words", "a+b", "tab\there", "nbsp\u{a0}"] {
        assert!(matches!(
            Signer::new(name, [1; 32]),
            Err(NoteError::InvalidName(_))
        ));
    }
}

#[test]
fn generated_keys_are_fresh_and_round_trip_through_key_strings() {
    let (a, b) = (Signer::generate(ORIGIN), Signer::generate(ORIGIN));
    let (a, b) = (a.expect("randomness"), b.expect("randomness"));
    assert_ne!(a.public_key(), b.public_key());
    let restored = Signer::from_skey(&a.skey()).expect("our own signer key");
    assert_eq!(restored.vkey(), a.vkey());
    assert_eq!(Verifier::from_vkey(&a.vkey()).ok(), Some(a.verifier()));
    assert!(
        a.vkey()
            .starts_with(&format!("{ORIGIN}+{}+", a.key_id_hex()))
    );
    let debug = format!("{a:?}");
    // PRIVATE+KEY+<name>+<id>+<base64>: the base64 itself may hold '+'.
    let secret = a.skey().splitn(5, '+').nth(4).map(str::to_string);
    assert!(!debug.contains(&secret.expect("a key part")), "{debug}");
    assert!(debug.contains(&a.key_id_hex()));
}

#[test]
fn checkpoints_round_trip_through_signed_notes() {
    let signer = log_signer(7);
    for size in [0, 1, 1000, u64::MAX] {
        let checkpoint = checkpoint(size);
        let note = sign_checkpoint(&signer, &checkpoint).expect("origin is the key name");
        assert!(note.starts_with(&checkpoint.body()));
        let opened = open_checkpoint(&note, &[signer.verifier()]);
        assert_eq!(opened.ok(), Some(checkpoint.clone()));
        assert_eq!(
            Checkpoint::parse_body(&checkpoint.body()).ok(),
            Some(checkpoint)
        );
    }
    let body = Checkpoint {
        root_hash: [0xff; 32],
        ..checkpoint(42)
    }
    .body();
    let expected = format!(
        "{ORIGIN}\n42\n//////////////////////////////////////////8=\ntimestamp 1790000000\n"
    );
    assert_eq!(body, expected);
}

#[test]
fn tampered_checkpoints_are_refused() {
    let signer = log_signer(7);
    let verifiers = [signer.verifier()];
    let note = sign_checkpoint(&signer, &checkpoint(1000)).expect("origin is the key name");
    let bigger = note.replacen("\n1000\n", "\n1001\n", 1);
    assert!(matches!(
        open_checkpoint(&bigger, &verifiers),
        Err(NoteError::InvalidSignature { .. })
    ));
    let later = note.replacen("timestamp 1790000000", "timestamp 1790000001", 1);
    assert!(matches!(
        open_checkpoint(&later, &verifiers),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Flip one signature byte past the key id (the key id is the first 4 bytes = 5.3 chars).
    let (body, line) = note.split_at(note.rfind("\n\n").expect("a note") + 2);
    let at = line.len() - 10;
    let flipped_char = if &line[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{body}{}{flipped_char}{}", &line[..at], &line[at + 1..]);
    assert!(matches!(
        open_checkpoint(&forged, &verifiers),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Another key under the same name has another key id: its signature is not recognized.
    let impostor = sign_checkpoint(&log_signer(8), &checkpoint(1000)).expect("same origin");
    assert!(matches!(
        open_checkpoint(&impostor, &verifiers),
        Err(NoteError::Unverified)
    ));
    assert!(matches!(
        open_checkpoint(&note, &[]),
        Err(NoteError::Unverified)
    ));
}

#[test]
fn unknown_signatures_are_ignored_and_every_known_one_must_verify() {
    let (log, witness) = (log_signer(7), peter());
    let note = sign_checkpoint(&log, &checkpoint(5)).expect("origin is the key name");
    let body = checkpoint(5).body();
    let cosigned = sign_note(&witness, &body).expect("a valid text");
    let witness_line = &cosigned[body.len() + 1..];
    let both = format!("{note}{witness_line}");
    let log_only = [log.verifier()];
    assert_eq!(open_checkpoint(&both, &log_only).ok(), Some(checkpoint(5)));
    let opened = open_note(&both, &[log.verifier(), witness.verifier()]).expect("both verify");
    assert_eq!(opened.signed_by.len(), 2);
    // Signed only by a known key that is not named after the origin: not the log's checkpoint.
    assert!(matches!(
        open_checkpoint(&cosigned, &[witness.verifier()]),
        Err(NoteError::Unverified)
    ));
    // A known key's bad signature spoils the note even next to a good one.
    let reference_line = SIGNATURE_LINE;
    let bad = format!("{note}{reference_line}");
    let verifiers = [log.verifier(), witness.verifier()];
    assert!(matches!(
        open_checkpoint(&bad, &verifiers),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn malformed_notes_are_refused() {
    let signature_line = SIGNATURE_LINE;
    let verifier = [Verifier::from_vkey(VKEY).expect("the reference verifier key")];
    let too_many = format!("{TEXT}\n{}", signature_line.repeat(101));
    let cases = [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &signature_line[..signature_line.len() - 1]),
        format!("\u{1}{TEXT}\n{signature_line}"),
        format!("{TEXT}\r\n{signature_line}"),
        format!(
            "{TEXT}\n{}",
            signature_line.replace("PeterNeumann", "Bad Name")
        ),
        format!("{TEXT}\n{}", signature_line.replace('\u{2014}', "-")),
        format!("{TEXT}\n{signature_line}Unexpected line.\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann \n"),
        format!("{TEXT}\n\u{2014} PeterNeumann AAAAAA==\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann not*base64\n"),
        too_many,
    ];
    for note in cases {
        let verdict = open_note(&note, &verifier);
        assert!(
            matches!(verdict, Err(NoteError::MalformedNote(_))),
            "{note:?}: {verdict:?}"
        );
    }
    let signer = peter();
    for text in ["no newline", "a\tb\n", "a\rb\n"] {
        assert!(matches!(
            sign_note(&signer, text),
            Err(NoteError::MalformedNote(_))
        ));
    }
}

#[test]
fn malformed_checkpoint_bodies_are_refused() {
    let root = "//////////////////////////////////////////8=";
    let cases = [
        format!("{ORIGIN}\n42\n{root}\n"),
        format!("{ORIGIN}\n42\n{root}\ntimestamp 1\nextra\n"),
        format!("{ORIGIN}\n42\n{root}\ntimestamp 1"),
        format!("{ORIGIN}\n042\n{root}\ntimestamp 1\n"),
        format!("{ORIGIN}\n-1\n{root}\ntimestamp 1\n"),
        format!("{ORIGIN}\n+4\n{root}\ntimestamp 1\n"),
        format!("{ORIGIN}\n18446744073709551616\n{root}\ntimestamp 1\n"),
        format!("{ORIGIN}\n42\n{}\ntimestamp 1\n", &root[..40]),
        format!("{ORIGIN}\n42\n{}\ntimestamp 1\n", root.replace('8', "9")),
        format!("{ORIGIN}\n42\n{root}\ntimestamp\n"),
        format!("{ORIGIN}\n42\n{root}\ntimestamp 01\n"),
        format!("{ORIGIN}\n42\n{root}\nTimestamp 1\n"),
        format!("{ORIGIN}\n42\n{root}\ntimestamp  1\n"),
        format!("bad origin\n42\n{root}\ntimestamp 1\n"),
        format!("\n42\n{root}\ntimestamp 1\n"),
    ];
    for body in cases {
        let verdict = Checkpoint::parse_body(&body);
        assert!(
            matches!(verdict, Err(NoteError::MalformedCheckpoint(_))),
            "{body:?}: {verdict:?}"
        );
    }
    // A well-signed note whose text is not a checkpoint is refused as one.
    let signer = log_signer(7);
    let note = sign_note(&signer, &format!("{ORIGIN}\n42\n{root}\n")).expect("a valid text");
    assert!(matches!(
        open_checkpoint(&note, &[signer.verifier()]),
        Err(NoteError::MalformedCheckpoint(_))
    ));
}

#[test]
fn checkpoints_are_signed_only_by_the_key_named_after_their_origin() {
    let other = Signer::new("tally.example.com/w/ws_2", [9; 32]).expect("a valid name");
    let verdict = sign_checkpoint(&other, &checkpoint(3));
    assert!(matches!(verdict, Err(NoteError::OriginMismatch { .. })));
    // Another workspace's key signing this workspace's body: verified, but not the log's key.
    let forged = sign_note(&other, &checkpoint(3).body()).expect("a valid text");
    let verifiers = [other.verifier(), log_signer(7).verifier()];
    assert!(matches!(
        open_checkpoint(&forged, &verifiers),
        Err(NoteError::Unverified)
    ));
    let genuine = sign_checkpoint(&log_signer(7), &checkpoint(3)).expect("the log's own key");
    let opened: Option<Hash> = open_checkpoint(&genuine, &verifiers)
        .ok()
        .map(|c| c.root_hash);
    assert_eq!(opened, Some(checkpoint(3).root_hash));
}
