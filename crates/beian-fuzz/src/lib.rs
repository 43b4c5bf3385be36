//! Fuzz target bodies: hostile bytes through the code that reads them in production.
//!
//! Each target takes arbitrary bytes and panics only on a bug: a panic in the code under test,
//! or an answer that breaks an invariant (an undocumented errcode, an empty message, an
//! accepted application that does not survive storage, a message that does not survive the
//! push encryption). `fuzz/` (cargo-fuzz, nightly, libFuzzer) calls them with its inputs;
//! this crate's tests call them on stable over the committed corpus (`fuzz/corpus/<target>/`)
//! plus random mutations, so CI catches regressions without nightly.
//!
//! Nothing here touches a database, the network or the clock.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request};
use beian_core::dict::Dictionaries;
use beian_core::errcode;
use beian_core::model::{FaceStatus, FaceTask, MediaMeta, MediaType, MiniProgram, Person};
use beian_core::payload::ApplyPayload;
use beian_core::policy::Policy;
use beian_core::rules::{check_apply, ApplyContext, Refusal};
use beian_core::state::ReadinessFlags;
use beian_service::media::{check_upload, MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, ORDER_FIELDS};
use beian_service::ServiceError;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A target: arbitrary bytes in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by the name of its cargo-fuzz binary and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("apply_payload", apply_payload),
    ("multipart_upload", multipart_upload),
    ("wx_push", wx_push),
    ("console_form", console_form),
    ("authority_event", authority_event),
    ("calendar_year", calendar_year),
    ("rule_table", rule_table),
    ("platform_event", platform_event),
];

/// The fixed boundary of [`multipart_upload`] inputs that name no Content-Type.
pub const BOUNDARY: &str = "BEIANFUZZ";

// ---- apply_payload -----------------------------------------------------------------------

/// The mini program, materials and face task the rules engine sees. The corpus names these
/// ids, so mutations reach the rules behind "the material exists".
struct ApplyFixture {
    dict: Dictionaries,
    policy: Policy,
    mini_program: MiniProgram,
    media: HashMap<String, MediaMeta>,
    face_task: FaceTask,
}

/// 2026-03-02 10:00 Beijing time.
const NOW: i64 = 1_772_416_800;
pub const FUZZ_APPID: &str = "wxfuzz0000000001";

fn apply_fixture() -> &'static ApplyFixture {
    static F: OnceLock<ApplyFixture> = OnceLock::new();
    F.get_or_init(|| {
        let media = |id: &str, appid: &str, field: &str, t: MediaType, cert: Option<u32>| MediaMeta {
            media_id: id.into(),
            appid: appid.into(),
            media_type: t,
            certificate_type: cert,
            icp_order_field: field.into(),
            content_type: if t == MediaType::Image { "image/jpeg" } else { "video/mp4" }.into(),
            size: 22,
            sha256: "0".repeat(64),
            created_at: NOW - 60,
        };
        let list = [
            media(
                "m_front",
                FUZZ_APPID,
                "icp_subject.principal_info.certificate_photo_front",
                MediaType::Image,
                Some(2),
            ),
            media(
                "m_back",
                FUZZ_APPID,
                "icp_subject.principal_info.certificate_photo_back",
                MediaType::Image,
                Some(2),
            ),
            media(
                "m_license",
                FUZZ_APPID,
                "icp_subject.organize_info.certificate_photo",
                MediaType::Image,
                Some(1),
            ),
            media(
                "m_letter",
                FUZZ_APPID,
                "icp_applets.principal_info.authorization_letter",
                MediaType::Image,
                None,
            ),
            media("m_nrlx", FUZZ_APPID, "icp_applets.base_info.nrlx_details", MediaType::Image, None),
            media("m_video", FUZZ_APPID, "icp_materials.promise_video", MediaType::Video, None),
            media(
                "m_other",
                "wxsomeoneelse001",
                "icp_subject.principal_info.certificate_photo_front",
                MediaType::Image,
                Some(2),
            ),
        ];
        ApplyFixture {
            dict: Dictionaries::builtin(),
            policy: Policy::default(),
            mini_program: MiniProgram {
                appid: FUZZ_APPID.into(),
                name: "模糊测试".into(),
                admin: Person {
                    name: "张三".into(),
                    id_number: "440305199003071236".into(),
                    mobile: "13800138000".into(),
                },
                flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
                listed: true,
                cleared: false,
                created_at: 0,
            },
            media: list.into_iter().map(|m| (m.media_id.clone(), m)).collect(),
            face_task: FaceTask {
                task_id: "task_ok".into(),
                appid: FUZZ_APPID.into(),
                face_status: FaceStatus::Succeeded,
                is_finish: true,
                created_at: NOW - 600,
                expires_at: NOW + 3 * 24 * 3600,
            },
        }
    })
}

/// The apply_icp_filing body: the API's parser (`beian_api::parse::apply_body`), then the
/// whole rules engine (`check_apply`). Refusals must carry documented errcodes and messages;
/// an accepted application must survive storage (serialised and parsed back, it is equal —
/// `beian check` parses every stored version).
pub fn apply_payload(data: &[u8]) {
    let payload = match beian_api::parse::apply_body(data) {
        Ok(p) => p,
        Err(answer) => return assert_wire_refusal(&answer.0),
    };
    let stored = serde_json::to_vec(&payload).expect("an application always serialises");
    let back: ApplyPayload = serde_json::from_slice(&stored).expect("a stored application parses");
    assert_eq!(back, payload, "an application changes through storage: {}", String::from_utf8_lossy(&stored));
    match check_apply_fixture(&payload) {
        Ok(()) => {}
        Err(Refusal::Request { errcode, errmsg }) => assert_documented(errcode, &errmsg),
        Err(Refusal::Hints(hints)) => {
            assert!(!hints.is_empty(), "a refusal with no hints");
            for h in hints {
                assert_documented(h.errcode, &h.errmsg);
                assert!(!h.err_field.is_empty(), "a hint without a field: {h:?}");
            }
        }
    }
}

/// The rules engine on `payload` for the fixture's mini program ([`FUZZ_APPID`], admin 张三
/// 440305199003071236, materials `m_front`, `m_back`, `m_license`, `m_letter`, `m_nrlx`,
/// `m_video`, another appid's `m_other`, the finished face task `task_ok`) at 2026-03-02
/// 10:00 Beijing time.
pub fn check_apply_fixture(payload: &ApplyPayload) -> Result<(), Refusal> {
    let f = apply_fixture();
    let rules = beian_core::rule_table::RuleTable::builtin();
    let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap_or_default();
    let ctx = ApplyContext {
        now,
        dict: &f.dict,
        policy: &f.policy,
        mini_program: &f.mini_program,
        media: &f.media,
        face_task: Some(&f.face_task),
        subject: None,
        applies_today: 0,
        rules: &rules,
    };
    check_apply(payload, &ctx)
}

// ---- multipart_upload --------------------------------------------------------------------

/// The upload_icp_media request: the API's multipart reader (`beian_api::parse::upload`,
/// axum's `Multipart`), then the media checks (`check_upload`: declared type, field, magic
/// numbers, size, certificate type). The input is the body, with
/// `multipart/form-data; boundary=BEIANFUZZ` — unless its first line is `Content-Type: …`,
/// which then names the Content-Type (the fuzzer chooses it) and the body follows.
pub fn multipart_upload(data: &[u8]) {
    let (content_type, body) = split_content_type(data);
    let mut req = Request::builder().method(Method::POST).uri("/wxa/icp/upload_icp_media");
    if let Ok(v) = HeaderValue::from_bytes(&content_type) {
        req = req.header(header::CONTENT_TYPE, v);
    }
    let Ok(req) = req.body(Body::from(body.to_vec())) else { return };
    let parsed = block_on(beian_api::parse::upload(None, req));
    let up = match parsed {
        Ok(up) => up,
        Err(answer) => return assert_wire_refusal(&answer.0),
    };
    match check_upload(&up, &apply_fixture().dict) {
        Err(ServiceError::Refused { errcode, errmsg }) => assert_documented(errcode, &errmsg),
        Err(other) => panic!("the media checks answered a non-refusal: {other:?}"),
        Ok((content_type, real)) => {
            assert!(!up.bytes.is_empty());
            let magic_ok = match content_type {
                "image/jpeg" => up.bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
                "image/png" => up.bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
                "video/mp4" => up.bytes.get(4..8) == Some(b"ftyp"),
                other => panic!("unknown content type {other}"),
            };
            assert!(magic_ok, "{content_type} accepted for bytes that are not one");
            assert_eq!(MediaType::parse(up.media_type.trim()), Some(real), "declared type differs");
            let limit = if real == MediaType::Image { MAX_IMAGE_BYTES } else { MAX_VIDEO_BYTES };
            assert!(up.bytes.len() <= limit);
            assert!(ORDER_FIELDS.contains(&up.icp_order_field.trim()), "{}", up.icp_order_field);
        }
    }
}

fn split_content_type(data: &[u8]) -> (Vec<u8>, &[u8]) {
    const PREFIX: &[u8] = b"content-type:";
    if data.len() >= PREFIX.len() && data[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        let end = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
        let line = data[PREFIX.len()..end].trim_ascii();
        return (line.to_vec(), data.get(end + 1..).unwrap_or_default());
    }
    (format!("multipart/form-data; boundary={BOUNDARY}").into_bytes(), data)
}

/// Run a future whose IO is all in memory.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
    }
    RT.with(|rt| rt.block_on(f))
}

// ---- console_form ------------------------------------------------------------------------

/// The console's request bodies: the input as a urlencoded wizard form (decoded by
/// `beian_web::form_pairs`, every `icp_*` key applied to a draft by `draft::set_field`, the
/// checkbox lists by their setters) and as the multipart upload form
/// (`beian_console::parse::upload_form`, then its `field` checked the same way). Nothing may
/// panic, every refusal names a bounded field and says something, and the draft must read
/// back from storage (JSON) as exactly what was set.
pub fn console_form(data: &[u8]) {
    use beian_core::draft::{self, MAX_PATH_CHARS};
    let check = |r: Result<(), draft::EditError>| {
        if let Err(e) = r {
            assert!(!e.errmsg.is_empty(), "a refusal without a message");
            assert!(e.field.chars().count() <= MAX_PATH_CHARS, "an unbounded field name in a refusal");
        }
    };
    let pairs = beian_web::form_pairs(data);
    let mut p = ApplyPayload::default();
    for (k, v) in &pairs {
        if k.starts_with("icp_") {
            check(draft::set_field(&mut p, k, v));
        }
    }
    let of = |key: &str| pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
    check(draft::set_service_content_types(&mut p, &of("sct")));
    check(draft::set_nrlx_types(&mut p, &of("nrlx")));
    let stored = serde_json::to_vec(&p).expect("a draft serialises");
    let back: ApplyPayload = serde_json::from_slice(&stored).expect("a stored draft parses");
    assert_eq!(back, p, "the draft does not read back as it was set");
    // Encoding the decoded pairs and decoding again gives the same pairs.
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", beian_web::url_encode(k, false), beian_web::url_encode(v, false)))
        .collect();
    assert_eq!(beian_web::form_pairs(encoded.join("&").as_bytes()), pairs, "form decoding is not stable");

    // The same bytes as the upload form.
    let (content_type, body) = split_content_type(data);
    let mut req = Request::builder().method(Method::POST).uri("/console/apps/x/filing/upload");
    if let Ok(v) = HeaderValue::from_bytes(&content_type) {
        req = req.header(header::CONTENT_TYPE, v);
    }
    let Ok(req) = req.body(Body::from(body.to_vec())) else { return };
    let form = block_on(async {
        use axum::extract::FromRequest;
        let mp = axum::extract::Multipart::from_request(req, &()).await.ok()?;
        beian_console::parse::upload_form(mp).await.ok()
    });
    if let Some(form) = form {
        check(draft::set_field(&mut ApplyPayload::default(), &form.field, "m"));
    }
}

// ---- wx_push -----------------------------------------------------------------------------

const PUSH_TOKEN: &str = "fuzztoken";
const PUSH_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const PUSH_APPID: &str = "wxcomponentfuzz1";

/// The XML and crypto of pushes (beian-wxcrypt; beian-client's `EventReceiver`; the server's
/// `/demo/events`, which reads any body): the bytes as a push envelope, as an inner event, as
/// a decrypted plaintext (framing: length, padding, appid), and as a message sent through
/// `xml_message` → encrypt → sign → envelope → open → parse, which must come back unchanged.
pub fn wx_push(data: &[u8]) {
    use base64::Engine;
    use beian_wxcrypt::{xml_field, xml_fields, xml_message, WxCrypt, XmlValue};
    let text = String::from_utf8_lossy(data);
    let crypt = WxCrypt::new(PUSH_TOKEN, PUSH_KEY, PUSH_APPID).expect("a valid key");

    // Anything as XML: names come from the text; the event parser answers or refuses.
    for (name, _) in xml_fields(&text) {
        assert!(text.contains(name.as_str()), "field {name:?} is not in the text");
    }
    let _ = beian_client::Event::parse(&text);
    // Anything as an envelope (what /demo/events and EventReceiver do first).
    if let Some(encrypt) = xml_field(&text, "Encrypt") {
        let _ = crypt.decrypt(&encrypt);
    }
    let rx = beian_client::EventReceiver::new(PUSH_TOKEN, PUSH_KEY, PUSH_APPID).expect("receiver");
    let _ = rx.open_xml("0", "1700000000", "nonce", &text);

    // The bytes as the plaintext under our key: the framing checks see the fuzzer's bytes.
    let mut plain = data.to_vec();
    let fill = plain.last().copied().unwrap_or(0);
    plain.resize(plain.len().div_ceil(16).max(1) * 16, fill);
    let ct = raw_encrypt(&plain);
    if let Ok(msg) = crypt.decrypt(&base64::engine::general_purpose::STANDARD.encode(ct)) {
        // Accepted: it really was length ‖ message ‖ our appid ‖ padding.
        assert!(plain.len() >= 20 + msg.len() + PUSH_APPID.len());
        assert_eq!(&plain[20..20 + msg.len()], msg.as_bytes());
    }

    // A message with the text in a field, through the whole push path and back.
    let inner = xml_message(&[
        ("AppId", XmlValue::Text(PUSH_APPID.into())),
        ("CreateTime", XmlValue::Number(1_700_000_000)),
        ("InfoType", XmlValue::Text("fuzz".into())),
        ("Note", XmlValue::Text(text.to_string())),
    ]);
    let encrypt = crypt.encrypt(&inner);
    let signature = crypt.sign("1700000000", "nonce", &encrypt);
    let envelope = crypt.envelope(&encrypt);
    let opened = rx.open_xml(&signature, "1700000000", "nonce", &envelope).expect("our own push opens");
    assert_eq!(opened, inner);
    match beian_client::Event::parse(&opened).expect("our own push parses") {
        beian_client::Event::Other { info_type, fields } => {
            assert_eq!(info_type, "fuzz");
            let note = fields.iter().find(|(k, _)| k == "Note").map(|(_, v)| v.as_str());
            assert_eq!(note, Some(&*text), "a text field changed through xml_message / xml_fields");
        }
        other => panic!("InfoType fuzz parsed as {other:?}"),
    }
}

/// AES-256-CBC without padding under [`PUSH_KEY`] (IV = the key's first 16 bytes, as WeChat).
fn raw_encrypt(plain: &[u8]) -> Vec<u8> {
    use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
    use base64::Engine;
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let key = lenient.decode(format!("{PUSH_KEY}=")).expect("key");
    let mut buf = plain.to_vec();
    let len = buf.len();
    cbc::Encryptor::<aes::Aes256>::new(key[..].into(), key[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .expect("whole blocks")
        .to_vec()
}

// ---- shared ------------------------------------------------------------------------------

fn assert_documented(code: i64, msg: &str) {
    assert!(errcode::message(code).is_some(), "undocumented errcode {code}: {msg}");
    assert!(code != errcode::SYSTEM_ERROR && code != errcode::OK, "errcode {code} for bad input: {msg}");
    assert!(!msg.trim().is_empty(), "errcode {code} without a message");
}

/// A wire answer (`{"errcode","errmsg"}` with ` rid: …`) refusing the input.
fn assert_wire_refusal(v: &Value) {
    let code = v["errcode"].as_i64().unwrap_or_else(|| panic!("no errcode in {v}"));
    let msg = v["errmsg"].as_str().unwrap_or_default();
    assert_documented(code, msg);
    assert!(msg.contains(" rid: "), "no rid in {msg}");
}

// ---- authority_event ---------------------------------------------------------------------

/// A bridge's inbound events (`/api/authority/events`, `beian_authority_bridge::protocol`):
/// the signature check on headers taken from the bytes (any key id, timestamp and signature
/// text answers or refuses, never panics), and the body as an event envelope: one accepted,
/// written back out, reads back the same — nothing is lost or invented between the bridge and
/// the inbox.
pub fn authority_event(data: &[u8]) {
    use beian_authority_bridge::protocol::{parse_event, Keys};
    let keys = Keys::new([("k1".to_string(), "0123456789abcdef0123456789abcdef".to_string())]).expect("keys");
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let (id, ts, sig) = (lines.next(), lines.next(), lines.next());
    let _ = keys.verify(id, ts, sig, data, 1_700_000_000, 300);
    if let Ok(envelope) = parse_event(data) {
        let back = serde_json::to_vec(&envelope).expect("an envelope serialises");
        let again = parse_event(&back).expect("an accepted envelope reads back");
        assert_eq!(again, envelope, "the envelope changed on its way back");
    }
}

// ---- calendar_year -----------------------------------------------------------------------

/// A working-day file as an operator uploads it (holiday-cn JSON, `HolidayYear::parse_json`):
/// refused with a reason or accepted; an accepted year written back out reads back the same,
/// and a calendar of it answers every working-day question of the year.
pub fn calendar_year(data: &[u8]) {
    use beian_core::calendar::{HolidayYear, WorkCalendar};
    let text = String::from_utf8_lossy(data);
    let Ok(year) = HolidayYear::parse_json(&text, None) else { return };
    let again =
        HolidayYear::parse_json(&year.to_json(), Some(year.year())).expect("a parsed year reads back");
    assert_eq!(again, year, "the year changed on its way back");
    let cal = WorkCalendar::from_years([year.clone()]);
    if let Some(start) = chrono::NaiveDate::from_ymd_opt(year.year(), 1, 1) {
        let due = cal.add_working_days(start, 20);
        assert!(due > start, "20 working days after {start} is {due}");
        assert_eq!(cal.working_days_between(start, due), 20, "from {start} to {due}");
    }
}

// ---- rule_table --------------------------------------------------------------------------

/// The regional rule table as an operator publishes it (`RuleTable::from_json`, checked
/// against the dictionaries): refused with a reason or accepted; an accepted table written
/// back out reads back the same, and the rules engine runs with it on the fixture application.
pub fn rule_table(data: &[u8]) {
    use beian_core::rule_table::RuleTable;
    let text = String::from_utf8_lossy(data);
    let dict = beian_core::dict::Dictionaries::builtin();
    let Ok(table) = RuleTable::from_json(&text, &dict, 2) else { return };
    let again = RuleTable::from_json(&table.to_json(), &dict, 2).expect("a parsed table reads back");
    assert_eq!(again.rows(), table.rows(), "the table changed on its way back");
    for province in ["440000", "640000", "110000"] {
        let _ = table.applicable(province, true);
        let _ = table.applicable(province, false);
    }
}

// ---- platform_event ----------------------------------------------------------------------

/// The host platform's signed sync API (`/api/platform/v1/events` and `/reconcile`,
/// `beian_ports::host::{EventRequest, ReconcileRequest}`): the signature check on headers taken
/// from the bytes answers or refuses, never panics; a body accepted as an event or as a
/// reconciliation list, written back out, reads back the same — nothing is lost or invented
/// between the host and the service (an event id stays valid, a flag keeps its value).
pub fn platform_event(data: &[u8]) {
    use beian_authority_bridge::protocol::Keys;
    use beian_ports::host::{EventRequest, ReconcileRequest};
    let keys = Keys::new([("p1".to_string(), "0123456789abcdef0123456789abcdef".to_string())]).expect("keys");
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let (id, ts, sig) = (lines.next(), lines.next(), lines.next());
    let _ = keys.verify(id, ts, sig, data, 1_700_000_000, 300);
    if let Ok(request) = serde_json::from_slice::<EventRequest>(data) {
        let back = serde_json::to_vec(&request).expect("an event serialises");
        let again: EventRequest = serde_json::from_slice(&back).expect("an accepted event reads back");
        assert_eq!(again, request, "the event changed on its way back");
    }
    if let Ok(request) = serde_json::from_slice::<ReconcileRequest>(data) {
        let back = serde_json::to_vec(&request).expect("a list serialises");
        let again: ReconcileRequest = serde_json::from_slice(&back).expect("an accepted list reads back");
        assert_eq!(again, request, "the list changed on its way back");
    }
}
