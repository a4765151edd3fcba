use serde_json::json;

use super::*;

fn obj(v: serde_json::Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn each_kind_takes_its_fields_and_keeps_secrets_apart() {
    let cases = [
        (
            Kind::Datadog,
            json!({"site": "datadoghq.eu", "apiKey": "k"}),
            vec!["apiKey"],
        ),
        (
            Kind::Splunk,
            json!({"url": "https://splunk.example.com:8088", "token": "t", "index": "main"}),
            vec!["token"],
        ),
        (
            Kind::S3,
            json!({"bucket": "logs", "region": "eu-west-1", "accessKeyId": "AK", "secretAccessKey": "S", "prefix": "/tally/"}),
            vec!["secretAccessKey"],
        ),
        (
            Kind::Gcs,
            json!({"bucket": "logs", "credentialsJson": "{\"type\": \"service_account\"}"}),
            vec!["credentialsJson"],
        ),
        (
            Kind::Https,
            json!({"url": "https://siem.example.com/hook", "secret": "whsec"}),
            vec!["secret"],
        ),
    ];
    for (kind, config, secret_names) in cases {
        let s =
            check(kind, &obj(config.clone()), false).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        let secrets: Vec<&str> = s.secrets.keys().map(String::as_str).collect();
        assert_eq!(secrets, secret_names, "{kind}");
        for name in secret_names {
            assert!(
                !s.public.contains_key(name),
                "{kind}: {name} is never public"
            );
        }
        assert_eq!(
            s.merged().len(),
            config.as_object().unwrap().len(),
            "{kind}"
        );
    }
    let s3 = check(Kind::S3, &obj(json!({"bucket": "logs", "region": "r", "accessKeyId": "AK", "secretAccessKey": "S", "prefix": "/a/b/"})), false).unwrap();
    assert_eq!(s3.public["prefix"], "a/b", "slashes trimmed");
}

#[test]
fn problems_name_their_field_all_at_once() {
    let errors = check(Kind::Https, &obj(json!({"url": 5, "colour": "red"})), false).unwrap_err();
    assert_eq!(
        fields(&errors),
        vec!["config.colour", "config.url", "config.secret"]
    );
    let errors = check(
        Kind::Datadog,
        &obj(json!({"site": "not a site", "apiKey": ""})),
        false,
    )
    .unwrap_err();
    assert_eq!(fields(&errors), vec!["config.site", "config.apiKey"]);
    let errors = check(Kind::S3, &obj(json!({"bucket": "A_", "region": "r", "accessKeyId": "a", "secretAccessKey": "s", "prefix": "../x"})), false).unwrap_err();
    assert_eq!(fields(&errors), vec!["config.bucket", "config.prefix"]);
    let errors = check(
        Kind::Gcs,
        &obj(json!({"bucket": "logs", "credentialsJson": "[1]"})),
        false,
    )
    .unwrap_err();
    assert_eq!(fields(&errors), vec!["config.credentialsJson"]);
}

#[test]
fn destinations_must_be_https_and_public_unless_allowed() {
    for url in [
        "https://siem.example.com/in",
        "https://203.0.113.9:8443/x",
        "https://[2001:db8::1]/",
    ] {
        assert!(destination(url, false).is_ok(), "{url}");
    }
    for url in [
        "http://siem.example.com/in",
        "ftp://siem.example.com/",
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://localhost:8443/",
        "https://api.localhost/",
        "https://localhost./",
        "https://user:pw@siem.example.com/",
        "https://siem.example.com/in?token=x",
        "not a url",
    ] {
        assert!(destination(url, false).is_err(), "{url}");
    }
    assert!(destination("http://127.0.0.1:9000/hook", true).is_ok());
    assert!(destination("https://10.0.0.2/", true).is_ok());
    assert!(
        destination("http://siem.example.com/", true).is_err(),
        "plain http only to private addresses"
    );
}

#[test]
fn a_patch_keeps_secrets_it_does_not_name() {
    let stored = check(
        Kind::Splunk,
        &obj(json!({"url": "https://a.example.com", "token": "t1", "index": "main"})),
        false,
    )
    .unwrap();
    let merged = overlay(
        &stored,
        &obj(json!({"url": "https://b.example.com", "index": null})),
    );
    let patched = check(Kind::Splunk, &merged, false).unwrap();
    assert_eq!(patched.secrets["token"], "t1");
    assert_eq!(patched.public["url"], "https://b.example.com");
    assert!(!patched.public.contains_key("index"));
    let merged = overlay(&stored, &obj(json!({"token": "t2"})));
    assert_eq!(
        check(Kind::Splunk, &merged, false).unwrap().secrets["token"],
        "t2"
    );
    let merged = overlay(&stored, &obj(json!({"token": null})));
    assert_eq!(
        fields(&check(Kind::Splunk, &merged, false).unwrap_err()),
        vec!["config.token"]
    );
}
