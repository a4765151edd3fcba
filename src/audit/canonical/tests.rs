//! The RFC 8785 examples and Appendix B number table, cyberphone/json-canonicalization's
//! test data, and escaping, nesting and refusal cases.

use super::*;
use serde_json::json;

fn canonical(json_text: &str) -> String {
    let value: Value = serde_json::from_str(json_text).expect("test input is JSON");
    let bytes = canonical_bytes(&value).expect("test input has a canonical form");
    String::from_utf8(bytes).expect("canonical JSON is UTF-8")
}

#[test]
fn sorts_members_by_utf16_code_units_as_in_rfc8785_section_3_2_3() {
    let input = r#"{
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\ud83d\ude00": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let expected = concat!(
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",",
        "\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",",
        "\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
    );
    assert_eq!(canonical(input), expected);
}

#[test]
#[allow(clippy::excessive_precision)] // the RFC's own 17-digit input
fn matches_the_rfc8785_section_3_2_2_example() {
    // The numbers as Rust reads them (exactly): serde_json's default parser may land one unit
    // in the last place off on 17-digit decimals such as the first one.
    let numbers = json!([
        333333333.33333329,
        1E30,
        4.50,
        2e-3,
        0.000000000000000000000000001
    ]);
    let string: Value = serde_json::from_str(r#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/""#)
        .expect("a JSON string");
    let input = json!({"numbers": numbers, "string": string, "literals": [null, true, false]});
    let expected = concat!(
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"#,
        "\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
    );
    assert_eq!(canonical_bytes(&input), Ok(expected.as_bytes().to_vec()));
}

#[test]
fn matches_cyberphone_json_canonicalization_test_data() {
    let weird = r#"{
        "\u20ac": "Euro Sign",
        "1": "One",
        "\u0080": "Control\u007f",
        "\ud83d\ude02": "Smiley",
        "\u00f6": "Latin Small Letter O With Diaeresis",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "</script>": "Browser Challenge"
    }"#;
    let expected = concat!(
        "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",",
        "\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",",
        "\"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
    );
    assert_eq!(canonical(weird), expected);
    let structures = r#"{
        "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0},
        "10": { },
        "": "empty",
        "a": { },
        "111": [ { } ],
        "A": { }
    }"#;
    assert_eq!(
        canonical(structures),
        r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}"#
    );
}

/// RFC 8785 Appendix B: IEEE 754 bit patterns and how ECMAScript writes them.
const APPENDIX_B: [(u64, &str); 24] = [
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7fefffffffffffff, "1.7976931348623157e+308"),
    (0xffefffffffffffff, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xc340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44b52d02c7e14af5, "9.999999999999997e+22"),
    (0x44b52d02c7e14af6, "1e+23"),
    (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
    (0x444b1ae4d6e2ef4e, "999999999999999700000"),
    (0x444b1ae4d6e2ef4f, "999999999999999900000"),
    (0x444b1ae4d6e2ef50, "1e+21"),
    (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
    (0x3eb0c6f7a0b5ed8d, "0.000001"),
    (0x41b3de4355555553, "333333333.3333332"),
    (0x41b3de4355555554, "333333333.33333325"),
    (0x41b3de4355555555, "333333333.3333333"),
    (0x41b3de4355555556, "333333333.3333334"),
    (0x41b3de4355555557, "333333333.33333343"),
    (0xbecbf647612f3696, "-0.0000033333333333333333"),
    (0x43143ff3c1cb0959, "1424953923781206.2"),
];

#[test]
fn writes_the_rfc8785_appendix_b_numbers() {
    for (bits, expected) in APPENDIX_B {
        let x = f64::from_bits(bits);
        assert_eq!(format_double(x).as_deref(), Ok(expected), "{bits:016x}");
        let value = Value::from(x);
        assert_eq!(
            canonical_bytes(&value),
            Ok(expected.as_bytes().to_vec()),
            "{bits:016x}"
        );
    }
}

#[test]
fn writes_numbers_as_ecmascript_number_to_string() {
    let cases: [(f64, &str); 14] = [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (-0.0, "0"),
        (1.0, "1"),
        (56.0, "56"),
        (4.50, "4.5"),
        (2e-3, "0.002"),
        (1e30, "1e+30"),
        (0.000000000000000000000000001, "1e-27"),
        (-123.456, "-123.456"),
        (0.1 + 0.2, "0.30000000000000004"),
    ];
    for (x, expected) in cases {
        assert_eq!(format_double(x).as_deref(), Ok(expected), "{x:e}");
    }
    let integers = json!([0, -1, 9007199254740992_u64, -9007199254740992_i64, 42]);
    assert_eq!(
        canonical_bytes(&integers),
        Ok(b"[0,-1,9007199254740992,-9007199254740992,42]".to_vec())
    );
}

#[test]
fn refuses_non_finite_numbers_and_integers_beyond_2_pow_53() {
    assert!(matches!(
        format_double(f64::NAN),
        Err(CanonicalError::NotFinite(_))
    ));
    assert_eq!(
        format_double(f64::INFINITY),
        Err(CanonicalError::NotFinite(f64::INFINITY))
    );
    assert!(format_double(f64::NEG_INFINITY).is_err());
    for (value, text) in [
        (json!(9007199254740993_u64), "9007199254740993"),
        (json!(-9007199254740993_i64), "-9007199254740993"),
        (json!(u64::MAX), "18446744073709551615"),
        (json!(i64::MIN), "-9223372036854775808"),
    ] {
        let nested = json!({"metadata": {"n": [value]}});
        let refused = Err(CanonicalError::IntegerOutOfRange(text.to_string()));
        assert_eq!(canonical_bytes(&nested), refused);
    }
}

#[test]
fn escapes_only_quotes_backslashes_and_control_characters() {
    let controls: String = (0u8..0x20).map(char::from).collect();
    let expected = concat!(
        "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r",
        "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018",
        "\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\""
    );
    assert_eq!(
        canonical_bytes(&json!(controls)),
        Ok(expected.as_bytes().to_vec())
    );
    let literal = "/ \u{7f} \u{2028} \u{2029} <>& é 😀 \u{fffd}";
    let mut expected = format!("\"{literal}\"").into_bytes();
    assert_eq!(canonical_bytes(&json!(literal)), Ok(expected.clone()));
    expected.clear();
    expected.extend_from_slice(b"\"say \\\"hi\\\" \\\\ bye\"");
    assert_eq!(canonical_bytes(&json!("say \"hi\" \\ bye")), Ok(expected));
}

#[test]
fn nested_structures_are_sorted_at_every_level_without_whitespace() {
    let event = json!({
        "targets": [{"type": "agent", "name": "Bot", "id": "a1"}, []],
        "actor": {"type": "user", "id": "u1", "name": null},
        "metadata": {"z": true, "a": -0.0, "B": 1.25, "actor_type": "agent"},
        "action": "agent.executed",
        "empty": {},
    });
    let expected = concat!(
        r#"{"action":"agent.executed","actor":{"id":"u1","name":null,"type":"user"},"#,
        r#""empty":{},"metadata":{"B":1.25,"a":0,"actor_type":"agent","z":true},"#,
        r#""targets":[{"id":"a1","name":"Bot","type":"agent"},[]]}"#
    );
    assert_eq!(canonical_bytes(&event), Ok(expected.as_bytes().to_vec()));
}

#[test]
fn canonical_form_is_a_fixed_point_and_numbers_round_trip() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20_000 {
        // xorshift64: random bit patterns cover subnormals, huge and tiny magnitudes.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = f64::from_bits(state);
        let Ok(text) = format_double(x) else {
            assert!(!x.is_finite());
            continue;
        };
        let back: f64 = text
            .parse()
            .expect("ECMAScript numbers parse as Rust floats");
        assert_eq!(back, if x == 0.0 { 0.0 } else { x }, "{text}");
        let value: Value = serde_json::from_str(&text).expect("a JSON number");
        assert!(value.is_number(), "{text}");
    }
    let event = json!({"b": [1, {"y": "\u{1f600}", "x": 1e-9}], "a": "\u{e000}"});
    let once = canonical_bytes(&event).expect("canonical");
    let reparsed: Value = serde_json::from_slice(&once).expect("canonical JSON parses");
    assert_eq!(canonical_bytes(&reparsed), Ok(once));
}
