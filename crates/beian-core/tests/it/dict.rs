//! Dictionaries: the built-in data and `from_json` validation.

use beian_core::dict::{DictError, DictKind, Dictionaries, District};

/// Counts produced by `scripts/gen-districts` from china-division 2.7.0 (statistics bureau
/// 2023): 31 provinces, 342 cities, 2,978 county-level codes minus 124 development zones.
const PROVINCES: usize = 31;
const CITIES: usize = 342;
const DISTRICTS: usize = 2978 - 124;

fn builtin() -> Dictionaries {
    Dictionaries::builtin()
}

/// All five kinds as JSON, with one kind's text replaced.
fn parts_with(d: &Dictionaries, kind: DictKind, text: &str) -> Vec<(DictKind, String)> {
    DictKind::ALL
        .into_iter()
        .map(|k| {
            let t = if k == kind { text.to_string() } else { d.kind_json(k) };
            (k, t)
        })
        .collect()
}

fn from_parts(parts: &[(DictKind, String)]) -> Result<Dictionaries, DictError> {
    let refs: Vec<(DictKind, &str)> = parts.iter().map(|(k, t)| (*k, t.as_str())).collect();
    Dictionaries::from_json(&refs)
}

fn all_districts(d: &Dictionaries) -> impl Iterator<Item = (&District, &District, &District)> {
    d.districts()
        .iter()
        .flat_map(|p| p.sub_list.iter().flat_map(move |c| c.sub_list.iter().map(move |x| (p, c, x))))
}

#[test]
fn builtin_parses_and_has_every_kind() {
    let d = builtin();
    assert_eq!(d.subject_types().len(), 16);
    assert!(!d.certificate_types().is_empty());
    assert!(!d.service_content_types().is_empty());
    assert_eq!(d.nrlx_types().len(), 13);
    assert_eq!(d.districts().len(), PROVINCES);
}

#[test]
fn kind_names_round_trip() {
    for k in DictKind::ALL {
        assert_eq!(DictKind::parse(k.as_str()), Some(k));
        assert_eq!(k.to_string(), k.as_str());
    }
    assert_eq!(DictKind::parse("districts"), Some(DictKind::Districts));
    assert_eq!(DictKind::parse("nope"), None);
}

#[test]
fn subject_and_certificate_types() {
    let d = builtin();
    assert_eq!(d.subject_type(1).map(|s| s.name.as_str()), Some("国防机构"));
    assert_eq!(d.subject_type(16).map(|s| s.name.as_str()), Some("公证机构"));
    assert_eq!(d.personal_subject_type_id(), Some(5));

    let c1 = d.certificate_type(1).expect("type 1");
    assert_eq!((c1.subject_type, c1.name.as_str()), (4, "营业执照（个人或企业）"));
    let c2 = d.certificate_type(2).expect("type 2");
    assert_eq!((c2.subject_type, c2.name.as_str()), (5, "居民身份证"));
    for id in [2, 7, 11, 14, 30, 41, 42] {
        assert_eq!(d.certificate_type(id).map(|c| c.subject_type), Some(5), "personal certificate {id}");
    }
    // Government bodies may only use 统一社会信用代码证书 / 组织机构代码证.
    let gov: Vec<&str> =
        d.certificate_types().iter().filter(|c| c.subject_type == 2).map(|c| c.name.as_str()).collect();
    assert_eq!(gov.len(), 2);
    assert!(gov.contains(&"统一社会信用代码证书"));
    assert!(gov.contains(&"组织机构代码证"));
    // Every code in the shared list is present.
    for id in [
        1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 27, 28, 30, 34,
        35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49,
    ] {
        assert!(d.certificate_type(id).is_some(), "certificate type {id}");
    }
    // Every subject nature has at least one certificate type.
    for s in d.subject_types() {
        assert!(
            d.certificate_types().iter().any(|c| c.subject_type == s.type_id),
            "{} has no certificate type",
            s.name
        );
    }
}

#[test]
fn service_content_types_are_two_levels() {
    let d = builtin();
    let life = d.service_content_type(500).expect("500");
    assert_eq!((life.parent_type, life.name.as_str()), (0, "生活服务"));
    let fee = d.service_content_type(1).expect("1");
    assert_eq!(
        (fee.parent_type, fee.name.as_str(), fee.remark.as_str()),
        (500, "生活缴费", "水电煤气话费等")
    );
    let job = d.service_content_type(2).expect("2");
    assert_eq!((job.parent_type, job.name.as_str()), (500, "招聘"));

    let second: Vec<_> = d.service_content_types().iter().filter(|t| t.parent_type != 0).collect();
    assert!((60..=100).contains(&second.len()), "{}", second.len());
    for t in second {
        let parent = d.service_content_type(t.parent_type).expect("parent");
        assert_eq!(parent.parent_type, 0, "{}", t.name);
    }
    for t in d.service_content_types().iter().filter(|t| t.parent_type == 0) {
        assert!(
            d.service_content_types().iter().any(|c| c.parent_type == t.type_id),
            "{} has no children",
            t.name
        );
    }
}

#[test]
fn nrlx_types() {
    let d = builtin();
    assert_eq!(d.nrlx_none_id(), Some(24));
    assert_eq!(d.nrlx_type(11).map(|t| t.name.as_str()), Some("网络预约车"));
    assert_eq!(d.nrlx_type(7), None);
}

#[test]
fn district_counts() {
    let d = builtin();
    let cities: usize = d.districts().iter().map(|p| p.sub_list.len()).sum();
    assert_eq!(d.districts().len(), PROVINCES);
    assert_eq!(cities, CITIES);
    assert_eq!(all_districts(&d).count(), DISTRICTS);
}

#[test]
fn district_lookups() {
    let d = builtin();
    let chaoyang = d.region(110105).expect("110105");
    assert_eq!((chaoyang.level, chaoyang.name, chaoyang.parent), (3, "朝阳区", Some(110100)));
    let bj_city = d.region(110100).expect("110100");
    assert_eq!((bj_city.level, bj_city.name, bj_city.parent), (2, "市辖区", Some(110000)));
    let bj = d.region(110000).expect("110000");
    assert_eq!((bj.level, bj.name, bj.parent), (1, "北京市", None));

    let nanshan = d.region(440305).expect("440305");
    assert_eq!((nanshan.level, nanshan.name, nanshan.parent), (3, "南山区", Some(440300)));
    assert_eq!(d.region(440300).map(|r| r.name), Some("深圳市"));
    assert!(d.location(440000, 440300, 440305).is_some());
    assert!(d.location(440000, 440100, 440305).is_none());
    assert!(d.location(110000, 440300, 440305).is_none());

    // Chongqing's counties sit under 500200 县, as in the package.
    assert_eq!(d.region(500200).map(|r| r.name), Some("县"));
    assert_eq!(d.region(500229).and_then(|r| r.parent), Some(500200));
    assert_eq!(d.region(999999), None);
}

#[test]
fn cities_without_county_level_have_a_self_district() {
    let d = builtin();
    for (code, name) in [(441900, "东莞市"), (442000, "中山市"), (460400, "儋州市")] {
        let city = d.region(code).expect("city");
        assert_eq!((city.level, city.name), (2, name));
        let own = d.region_at(3, code).expect("self district");
        assert_eq!((own.name, own.parent), (name, Some(code)));
        let loc = d.location(code / 10_000 * 10_000, code, code).expect("location");
        assert_eq!(loc.district.name, name);
    }
    // 嘉峪关 has its single county-level code 620201.
    assert_eq!(d.region(620201).and_then(|r| r.parent), Some(620200));
    // Every city has at least one district.
    for p in d.districts() {
        for c in &p.sub_list {
            assert!(!c.sub_list.is_empty(), "{} {}", c.code, c.name);
        }
    }
}

#[test]
fn no_development_zones_and_no_hk_mo_tw() {
    let d = builtin();
    for (p, c, x) in all_districts(&d) {
        assert_ne!((x.code / 10) % 10, 7, "development zone {} {}", x.code, x.name);
        assert_eq!(x.code / 100, c.code / 100);
        assert_eq!(c.code / 10_000, p.code / 10_000);
    }
    for code in [710000, 810000, 820000] {
        assert_eq!(d.region(code), None);
        assert_eq!(d.province_abbr(code), None);
    }
    assert!(d.districts().iter().all(|p| !["香港", "澳门", "台湾"].iter().any(|n| p.name.contains(n))));
}

#[test]
fn province_abbreviations() {
    let d = builtin();
    let expected = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新";
    let got: String = d.districts().iter().map(|p| d.province_abbr(p.code).expect("abbr")).collect();
    assert_eq!(got, expected);
    assert_eq!(d.province_abbr(44), Some("粤"));
    assert_eq!(d.province_abbr(440000), Some("粤"));
    assert_eq!(d.province_abbr(440305), Some("粤"));
    assert_eq!(d.province_abbr(610000), Some("陕"));
    assert_eq!(d.province_abbr(0), None);
    assert_eq!(d.province_abbr(99), None);
}

#[test]
fn kind_json_round_trips() {
    let d = builtin();
    let parts: Vec<(DictKind, String)> = DictKind::ALL.into_iter().map(|k| (k, d.kind_json(k))).collect();
    let again = from_parts(&parts).expect("round trip");
    assert_eq!(again, d);
    for k in DictKind::ALL {
        assert_eq!(again.kind_json(k), d.kind_json(k));
    }
}

#[test]
fn districts_file_is_what_kind_json_serves() {
    let file = include_str!("../../data/dict/districts.json");
    assert_eq!(file.trim_end(), builtin().kind_json(DictKind::Districts));
    assert!(!file.contains("\"sub_list\":[]"));
}

#[test]
fn rejects_missing_and_duplicate_kinds() {
    let d = builtin();
    let mut parts: Vec<(DictKind, String)> = DictKind::ALL.into_iter().map(|k| (k, d.kind_json(k))).collect();
    parts.retain(|(k, _)| *k != DictKind::NrlxTypes);
    assert!(matches!(from_parts(&parts), Err(DictError::Missing { kind: DictKind::NrlxTypes })));
    parts.push((DictKind::NrlxTypes, d.kind_json(DictKind::NrlxTypes)));
    parts.push((DictKind::Districts, d.kind_json(DictKind::Districts)));
    assert!(matches!(from_parts(&parts), Err(DictError::Duplicate { kind: DictKind::Districts })));
}

#[test]
fn rejects_bad_json_and_empty_lists() {
    let d = builtin();
    let err = from_parts(&parts_with(&d, DictKind::SubjectTypes, "{")).expect_err("bad json");
    assert!(matches!(err, DictError::Json { kind: DictKind::SubjectTypes, .. }));
    let err = from_parts(&parts_with(&d, DictKind::NrlxTypes, "[]")).expect_err("empty");
    assert!(matches!(err, DictError::Empty { kind: DictKind::NrlxTypes }));
}

#[test]
fn rejects_certificate_type_with_unknown_subject_type() {
    let d = builtin();
    let mut certs = d.certificate_types().to_vec();
    certs.push(beian_core::dict::CertificateType {
        type_id: 99,
        subject_type: 77,
        name: "测试证件".into(),
        remark: String::new(),
    });
    let json = serde_json::to_string(&certs).expect("json");
    let err = from_parts(&parts_with(&d, DictKind::CertificateTypes, &json)).expect_err("reject");
    let msg = err.to_string();
    assert!(matches!(err, DictError::Invalid { kind: DictKind::CertificateTypes, .. }));
    assert!(msg.contains("certificate_types") && msg.contains("99") && msg.contains("77"), "{msg}");
}

#[test]
fn rejects_duplicate_ids() {
    let d = builtin();
    let mut subjects = d.subject_types().to_vec();
    let first = subjects[0].clone();
    subjects.push(first);
    let json = serde_json::to_string(&subjects).expect("json");
    let err = from_parts(&parts_with(&d, DictKind::SubjectTypes, &json)).expect_err("reject");
    assert!(err.to_string().contains("duplicate"), "{err}");
}

#[test]
fn rejects_second_level_service_type_without_parent() {
    let d = builtin();
    let mut types = d.service_content_types().to_vec();
    types.push(beian_core::dict::ServiceContentType {
        type_id: 98,
        parent_type: 4242,
        name: "孤儿类型".into(),
        remark: String::new(),
    });
    let json = serde_json::to_string(&types).expect("json");
    let err = from_parts(&parts_with(&d, DictKind::ServiceContentTypes, &json)).expect_err("reject");
    let msg = err.to_string();
    assert!(msg.contains("service_content_types") && msg.contains("4242"), "{msg}");

    // A third level (parent is itself second-level) is rejected too.
    let mut types = d.service_content_types().to_vec();
    types.push(beian_core::dict::ServiceContentType {
        type_id: 98,
        parent_type: 1,
        name: "三级类型".into(),
        remark: String::new(),
    });
    let json = serde_json::to_string(&types).expect("json");
    assert!(from_parts(&parts_with(&d, DictKind::ServiceContentTypes, &json)).is_err());
}

#[test]
fn rejects_districts_that_do_not_nest() {
    let d = builtin();
    let leaf = |code: u32, name: &str| District { level: 3, code, name: name.into(), sub_list: Vec::new() };

    // A district under 北京 市辖区 whose code belongs to another city.
    let mut tree = d.districts().to_vec();
    tree[0].sub_list[0].sub_list.push(leaf(120199, "错位区"));
    let json = serde_json::to_string(&tree).expect("json");
    let err = from_parts(&parts_with(&d, DictKind::Districts, &json)).expect_err("reject");
    let msg = err.to_string();
    assert!(matches!(err, DictError::Invalid { kind: DictKind::Districts, .. }));
    assert!(msg.contains("120199"), "{msg}");

    // A city whose code belongs to another province.
    let mut tree = d.districts().to_vec();
    tree[0].sub_list.push(District {
        level: 2,
        code: 130900,
        name: "错位市".into(),
        sub_list: vec![leaf(130901, "错位区")],
    });
    let json = serde_json::to_string(&tree).expect("json");
    let err = from_parts(&parts_with(&d, DictKind::Districts, &json)).expect_err("reject");
    assert!(err.to_string().contains("130900"), "{err}");

    // Wrong level.
    let mut tree = d.districts().to_vec();
    tree[0].sub_list[0].sub_list[0].level = 2;
    let json = serde_json::to_string(&tree).expect("json");
    assert!(from_parts(&parts_with(&d, DictKind::Districts, &json)).is_err());

    // A fourth level.
    let mut tree = d.districts().to_vec();
    tree[0].sub_list[0].sub_list[0].sub_list.push(leaf(110101, "街道"));
    let json = serde_json::to_string(&tree).expect("json");
    assert!(from_parts(&parts_with(&d, DictKind::Districts, &json)).is_err());

    // Hong Kong is not a filing province.
    let mut tree = d.districts().to_vec();
    tree.push(District {
        level: 1,
        code: 810000,
        name: "香港特别行政区".into(),
        sub_list: vec![District {
            level: 2,
            code: 810100,
            name: "香港岛".into(),
            sub_list: vec![leaf(810101, "中西区")],
        }],
    });
    let json = serde_json::to_string(&tree).expect("json");
    assert!(from_parts(&parts_with(&d, DictKind::Districts, &json)).is_err());
}
