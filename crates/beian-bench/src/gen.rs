//! Synthetic platform data: N mini programs with a realistic mix of statuses, their subjects,
//! filed orders (with the encrypted application they were filed with), numbers, audit events
//! and public index rows; plus mini programs prepared to apply (materials uploaded, face task
//! finished, a provider authorized) and authorizer tokens for the read scenarios.
//!
//! Everything is deterministic in the index `i` except the random tokens, media ids and task
//! ids (they are secrets or random in real use too).

use beian_core::dict::Dictionaries;
use beian_core::model::{
    AuditEvent, FaceStatus, FaceTask, FilingOrder, MediaMeta, MediaType, MiniProgram, Person, Subject,
    FACE_TASK_TTL_SECS,
};
use beian_core::numbering;
use beian_core::payload::{ApplyPayload, NrlxDetail, PrincipalInfo};
use beian_core::platform::{Authorization, TokenKind, TokenRecord};
use beian_core::state::{FilingState, ReadinessFlags, SmsVerifyStatus};
use beian_store::bulk::{SeedBatch, SeedOrder};
use beian_store::query::PublicFiling;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The JPEG every prepared mini program "uploaded" (as the tests use).
pub const JPEG: &[u8] =
    &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9];

/// Access tokens live 2 h (`ACCESS_TTL` of the service).
const ACCESS_TTL: i64 = 7200;

const CITIES: [&str; 30] = [
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州", "天津", "长沙",
    "郑州", "青岛", "厦门", "宁波", "合肥", "昆明", "大连", "福州", "济南", "沈阳", "南昌", "贵阳", "南宁",
    "太原", "兰州", "佛山", "东莞",
];
const BRANDS: [&str; 40] = [
    "乐享", "易购", "优选", "快捷", "惠民", "智慧", "云端", "小鹿", "大象", "好邻", "美好", "新星", "星河",
    "悦己", "趣玩", "享家", "鲜果", "萌宠", "酷跑", "佳音", "安心", "和谐", "众创", "汇聚", "博学", "睿思",
    "康宁", "通达", "恒久", "诚信", "青松", "蓝鲸", "橙子", "柠檬", "麦田", "竹林", "山海", "晴空", "暖阳",
    "微光",
];
const DOMAINS: [&str; 60] = [
    "外卖", "读书", "健身", "租房", "家政", "宠物", "旅游", "摄影", "教育", "医疗", "停车", "洗车", "花店",
    "咖啡", "烘焙", "水果", "生鲜", "茶饮", "美甲", "理发", "维修", "搬家", "快递", "打印", "会议", "票务",
    "电影", "音乐", "游戏", "记账", "天气", "翻译", "招聘", "婚恋", "母婴", "养老", "社区", "物业", "健康",
    "菜谱", "瑜伽", "跑步", "钓鱼", "露营", "骑行", "书法", "绘画", "编程", "考研", "驾校", "装修", "家具",
    "数码", "服装", "鞋包", "美妆", "珠宝", "酒店", "民宿", "门票",
];
const SUFFIXES: [&str; 15] = [
    "助手",
    "小程序",
    "商城",
    "工具",
    "平台",
    "服务",
    "管家",
    "指南",
    "预约",
    "查询",
    "社区",
    "优选",
    "到家",
    "课堂",
    "中心",
];
const COMPANY_SUFFIXES: [&str; 4] =
    ["科技有限公司", "网络科技有限公司", "信息技术有限公司", "文化传媒有限公司"];
const SURNAMES: [&str; 40] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
    "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田",
    "董", "袁", "潘", "于", "蒋", "蔡",
];
const GIVEN: [&str; 40] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "萍", "红", "鹏", "辉", "建", "文", "宇", "欣", "晨",
    "浩", "佳", "思", "雨", "子", "梓",
];

/// Provinces the historic filings are spread over: (province, city, district, abbreviation).
const REGIONS: [(&str, &str, &str, &str); 6] = [
    ("440000", "440300", "440305", "粤"),
    ("110000", "110100", "110105", "京"),
    ("310000", "310100", "310115", "沪"),
    ("330000", "330100", "330106", "浙"),
    ("510000", "510100", "510107", "川"),
    ("320000", "320100", "320102", "苏"),
];

/// A stateless 64-bit mix (splitmix64): the deterministic "random" draw of index `i`.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub fn appid(i: u64) -> String {
    format!("wx{:016x}", 0x5eed_0000_0000u64 + i)
}

/// A mini program's name, e.g. `深圳小鹿读书助手`.
pub fn app_name(i: u64) -> String {
    let h = mix(i ^ 0xA11);
    format!(
        "{}{}{}{}",
        CITIES[(h % 30) as usize],
        BRANDS[((h >> 8) % 40) as usize],
        DOMAINS[((h >> 16) % 60) as usize],
        SUFFIXES[((h >> 24) % 15) as usize]
    )
}

pub fn person_name(i: u64) -> String {
    let h = mix(i ^ 0xB22);
    let mut s = String::from(SURNAMES[(h % 40) as usize]);
    s.push_str(GIVEN[((h >> 8) % 40) as usize]);
    if (h >> 16) & 1 == 0 {
        s.push_str(GIVEN[((h >> 24) % 40) as usize]);
    }
    s
}

fn company_name(block: u64) -> String {
    let h = mix(block ^ 0xC33);
    format!(
        "{}{}{}{}",
        CITIES[(h % 30) as usize],
        BRANDS[((h >> 8) % 40) as usize],
        DOMAINS[((h >> 16) % 60) as usize],
        COMPANY_SUFFIXES[((h >> 24) % 4) as usize]
    )
}

/// A valid resident ID number (GB 11643) of person `i`, issued in `district`: distinct for
/// distinct `i` (birth date and sequence number are `i`'s digits).
pub fn resident_id(district: &str, i: u64) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default()
        + chrono::Days::new(i / 1000 % 16_000);
    let body = format!("{district}{}{:03}", birth.format("%Y%m%d"), i % 1000);
    let check = beian_core::ident::resident_id_check_char(&body).unwrap_or('X');
    format!("{body}{check}")
}

/// A valid Unified Social Credit Code (GB 32100) of company `block` in `district`.
pub fn credit_code(district: &str, block: u64) -> String {
    const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let body = format!("91{district}{:09}", block % 1_000_000_000);
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(c, w)| ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32 * w)
        .sum();
    let check = ALPHABET[((31 - sum % 31) % 31) as usize] as char;
    format!("{body}{check}")
}

pub fn mobile(i: u64) -> String {
    format!("13{:09}", i % 1_000_000_000)
}

fn emergency(i: u64) -> String {
    format!("15{:09}", i % 1_000_000_000)
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn new_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 36];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// What the seeded population looks like.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Mini programs in all.
    pub n: u64,
    /// The last `apply_ready` of them are new, never applied, and prepared to apply.
    pub apply_ready: u64,
    /// Mini programs (spread over the others) whose provider holds a token, for reads.
    pub authorized: u64,
    /// Mini programs per transaction.
    pub batch: u64,
    pub now: i64,
    pub component_appid: String,
    /// Also fill the public filing index (when the schema has it).
    pub public_index: bool,
    /// The media name of the one sealed test JPEG every seeded media row names
    /// (`Crypto::seal_media`).
    pub jpeg_digest: String,
}

/// A mini program the load can apply for.
#[derive(Debug, Clone)]
pub struct Ready {
    pub i: u64,
    pub appid: String,
    pub token: String,
    pub media: [String; 2],
    pub task_id: String,
}

/// What the generator hands back besides the rows.
#[derive(Debug, Default)]
pub struct Handles {
    pub ready: Vec<Ready>,
    /// (appid, authorizer_access_token) for the read scenarios.
    pub authorized: Vec<(String, String)>,
    pub filed: u64,
    pub orders: u64,
    /// Listed and not filed (what the clearance sweep will delist).
    pub listed_unfiled: u64,
    /// A uniform sample of the filed mini programs across all N — (index `i`, service
    /// number) — for the public query's exact-number, appid and rare-name lookups.
    pub public_pool: Vec<(u64, String)>,
}

/// Filed mini programs kept in [`Handles::public_pool`].
pub const PUBLIC_POOL: usize = 100_000;

/// The stored status a historic mini program `i` is in: `None` never applied.
fn drawn_state(i: u64) -> Option<FilingState> {
    match mix(i) % 1000 {
        0..=619 => Some(FilingState::Filed { canceling: false }),
        620..=649 => Some(FilingState::PlatformReview),
        650..=659 => Some(FilingState::PlatformRejected),
        660..=669 => Some(FilingState::AuthorityReview { sms: SmsVerifyStatus::Done }),
        670..=674 => Some(FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting }),
        675..=684 => Some(FilingState::AuthorityRejected),
        685..=699 => Some(FilingState::NotFiled),
        _ => None,
    }
}

fn action_of(state: FilingState) -> &'static str {
    match state {
        FilingState::Filed { .. } => "authority_approve",
        FilingState::Changing { .. } => "apply_change",
        FilingState::PlatformReview => "apply",
        FilingState::PlatformRejected => "platform_reject",
        FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting } => "platform_approve",
        FilingState::AuthorityReview { .. } => "sms_verified",
        FilingState::AuthorityRejected => "authority_reject",
        FilingState::NotFiled => "withdraw",
    }
}

fn principal(name: &str, i: u64, id: &str) -> PrincipalInfo {
    PrincipalInfo {
        name: name.to_string(),
        mobile: mobile(i),
        email: format!("u{i}@example.com"),
        emergency_contact: emergency(i),
        certificate_type: Some(2),
        certificate_number: id.to_string(),
        certificate_validity_date_start: "20200101".into(),
        certificate_validity_date_end: "长期".into(),
        certificate_photo_front: random_hex(24),
        certificate_photo_back: random_hex(24),
        ..PrincipalInfo::default()
    }
}

const COMMENT: &str =
    "本小程序提供信息查询、预约与会员服务，不涉及交易、不涉及新闻、出版、医疗等前置审批内容。";

/// Generates the rows batch by batch, keeping what spans batches (numbers, handles).
pub struct Generator {
    plan: Plan,
    next: u64,
    year: i32,
    /// Subject sequence per province abbreviation (the `subject_seq:{abbr}:{year}` counter).
    subject_seq: BTreeMap<&'static str, u32>,
    jpeg_sha: String,
    mask: fn(&str) -> String,
    pub handles: Handles,
}

impl Generator {
    pub fn new(plan: Plan, year: i32, mask: fn(&str) -> String) -> Generator {
        // Mini programs per batch is a multiple of the company block (8) so a company's
        // mini programs land in one batch with their subject.
        let plan = Plan { batch: plan.batch.max(8) / 8 * 8, ..plan };
        let jpeg_sha = plan.jpeg_digest.clone();
        Generator {
            plan,
            next: 0,
            year,
            subject_seq: BTreeMap::new(),
            jpeg_sha,
            mask,
            handles: Handles::default(),
        }
    }

    fn authorized_stride(&self) -> u64 {
        let historic = self.plan.n.saturating_sub(self.plan.apply_ready);
        historic.checked_div(self.plan.authorized).map_or(u64::MAX, |s| s.max(1))
    }

    /// The next batch, or `None` when all N are generated (the last one carries the counters).
    pub fn next_batch(&mut self) -> Option<SeedBatch> {
        let n = self.plan.n;
        if self.next > n {
            return None;
        }
        let now = self.plan.now;
        let mut batch = SeedBatch { now, ..SeedBatch::default() };
        if self.next == n {
            // Counters last, once every number is issued.
            for (abbr, seq) in &self.subject_seq {
                batch.counters.push((format!("subject_seq:{abbr}:{}", self.year), i64::from(*seq)));
            }
            self.next += 1;
            return Some(batch);
        }
        let end = (self.next + self.plan.batch).min(n);
        let historic_end = n.saturating_sub(self.plan.apply_ready);
        let stride = self.authorized_stride();
        let dict = Dictionaries::builtin();
        let none_nrlx = dict.nrlx_none_id().unwrap_or(24);
        // Company subjects of the current block: (block, subject index in batch.subjects).
        let mut company: Option<(u64, usize)> = None;
        for i in self.next..end {
            let appid = appid(i);
            let h = mix(i ^ 0xD44);
            let region = REGIONS[(h % REGIONS.len() as u64) as usize];
            let (province, city, district, abbr) = if i >= historic_end { REGIONS[0] } else { region };
            let admin_name = person_name(i);
            let admin_id = resident_id(district, i);
            let state = if i >= historic_end { None } else { drawn_state(i) };
            let is_company = i < historic_end && (h >> 8) % 10 >= 7;
            let block = i / 8;
            // A company's first order is its filed one: a subject never filed has at most one
            // application in progress (PRODUCT rule 5).
            let state = match (state, is_company, company) {
                (Some(_), true, Some((b, _))) if b == block => state,
                (Some(_), true, _) => Some(FilingState::Filed { canceling: false }),
                _ => state,
            };
            let ready_flags = i >= historic_end || state.is_some() || (h >> 16) % 10 < 8;
            let listed = match state {
                Some(_) => true,
                None if i >= historic_end => false,
                None => (h >> 20) % 10 < 7,
            };
            let filed = matches!(state, Some(FilingState::Filed { .. }));
            if listed && !filed {
                self.handles.listed_unfiled += 1;
            }
            let created_at = now - 400 * 86_400 + (h >> 24) as i64 % (300 * 86_400);
            let mp = MiniProgram {
                appid: appid.clone(),
                name: app_name(i),
                admin: Person { name: admin_name.clone(), id_number: admin_id.clone(), mobile: mobile(i) },
                flags: ReadinessFlags {
                    basic_info_filled: ready_flags,
                    category_filled: ready_flags,
                    certified: ready_flags || (h >> 28) & 1 == 0,
                },
                listed,
                cleared: false,
                created_at: if i >= historic_end { now } else { created_at },
            };

            if let Some(state) = state {
                let updated_at = created_at + 86_400 + (h >> 32) as i64 % (60 * 86_400);
                let submitted_at = updated_at - 3 * 86_400;
                let subject_idx = if is_company {
                    match company {
                        Some((b, idx)) if b == block => idx,
                        _ => {
                            let code = credit_code(district, block);
                            batch.subjects.push(Subject {
                                id: format!("s{block:011x}c"),
                                subject_type: 4,
                                certificate_type: 1,
                                certificate_number: code,
                                name: company_name(block),
                                province: province.into(),
                                filed_count: 0,
                                ever_filed: false,
                                in_progress: 0,
                                record_number: None,
                                service_seq: 0,
                            });
                            company = Some((block, batch.subjects.len() - 1));
                            batch.subjects.len() - 1
                        }
                    }
                } else {
                    batch.subjects.push(Subject {
                        id: format!("s{i:011x}p"),
                        subject_type: 5,
                        certificate_type: 2,
                        certificate_number: admin_id.clone(),
                        name: admin_name.clone(),
                        province: province.into(),
                        filed_count: 0,
                        ever_filed: false,
                        in_progress: 0,
                        record_number: None,
                        service_seq: 0,
                    });
                    batch.subjects.len() - 1
                };
                let subject = &mut batch.subjects[subject_idx];
                if state.in_progress() {
                    subject.in_progress += 1;
                }
                let (mut subject_number, mut service_number) = (None, None);
                if filed {
                    if subject.record_number.is_none() {
                        let seq = self.subject_seq.entry(abbr).or_insert(0);
                        *seq += 1;
                        subject.record_number = Some(numbering::subject_number(abbr, self.year, *seq));
                    }
                    subject.service_seq += 1;
                    subject.filed_count += 1;
                    subject.ever_filed = true;
                    let sn = subject.record_number.clone().unwrap_or_default();
                    service_number = Some(numbering::service_number(&sn, subject.service_seq));
                    subject_number = Some(sn);
                }
                let subject = subject.clone();

                let mut p = ApplyPayload::default();
                let sb = &mut p.icp_subject.base_info;
                sb.subject_type = Some(subject.subject_type);
                sb.name = subject.name.clone();
                sb.province = province.into();
                sb.city = city.into();
                sb.district = district.into();
                sb.address =
                    format!("科技园路{}号{}栋{}室", 1 + h % 200, 1 + (h >> 8) % 20, 101 + (h >> 16) % 900);
                let o = &mut p.icp_subject.organize_info;
                o.certificate_type = Some(subject.certificate_type);
                o.certificate_number = subject.certificate_number.clone();
                o.certificate_address = format!("{}{}", city, sb.address);
                let admin_principal = principal(&admin_name, i, &admin_id);
                if is_company {
                    o.certificate_photo = random_hex(24);
                    let legal = block * 8 + 7;
                    p.icp_subject.principal_info =
                        principal(&person_name(legal), legal, &resident_id(district, legal));
                    p.icp_applets.principal_info = admin_principal;
                    p.icp_applets.principal_info.authorization_letter = random_hex(24);
                } else {
                    p.icp_subject.principal_info = admin_principal.clone();
                    p.icp_applets.principal_info = admin_principal;
                }
                p.icp_applets.principal_info.verify_task_id = random_hex(16);
                let ab = &mut p.icp_applets.base_info;
                ab.appid = appid.clone();
                ab.name = mp.name.clone();
                ab.service_content_types = vec![1];
                ab.nrlx_details = vec![NrlxDetail { nrlx_type: Some(none_nrlx), ..NrlxDetail::default() }];
                ab.comment = COMMENT.into();
                p.icp_materials.commitment_letter = vec![random_hex(24)];

                let review_due =
                    matches!(state, FilingState::PlatformReview).then_some(updated_at + 2 * 86_400);
                let order = FilingOrder {
                    appid: appid.clone(),
                    subject_id: Some(subject.id.clone()),
                    state,
                    audit_data: Vec::new(),
                    subject_record_number: subject_number.clone(),
                    service_record_number: service_number.clone(),
                    versions: 1,
                    filed_version: u32::from(matches!(state, FilingState::Filed { .. })),
                    cancel_type: None,
                    submitted_at: Some(submitted_at),
                    updated_at,
                    claimed_by: None,
                    claimed_at: None,
                    review_due_at: review_due,
                    authority_round: u32::from(matches!(
                        state,
                        FilingState::Filed { .. }
                            | FilingState::AuthorityReview { .. }
                            | FilingState::AuthorityRejected
                    )),
                    row_version: 3,
                    access_number: None,
                };
                // The trail: the apply (one per version, as `beian check` expects) and the
                // action that brought the order to where it is.
                batch.audit.push(AuditEvent {
                    at: submitted_at,
                    actor: format!("provider:{}", self.plan.component_appid),
                    entity: "filing".into(),
                    entity_id: appid.clone(),
                    action: "apply".into(),
                    detail: serde_json::json!({ "from": 1024, "to": 2, "version": 1, "seeded": true }),
                });
                if action_of(state) != "apply" {
                    batch.audit.push(AuditEvent {
                        at: updated_at,
                        actor: "system".into(),
                        entity: "filing".into(),
                        entity_id: appid.clone(),
                        action: action_of(state).into(),
                        detail: serde_json::json!({ "to": state.status_code(), "seeded": true }),
                    });
                }
                if filed && self.plan.public_index {
                    batch.public.push(PublicFiling {
                        appid: appid.clone(),
                        service_name: mp.name.clone(),
                        subject_name: subject.name.clone(),
                        subject_type: subject.subject_type,
                        subject_record_number: subject_number.clone().unwrap_or_default(),
                        service_record_number: service_number.clone().unwrap_or_default(),
                        principal_masked: (self.mask)(&p.icp_applets.principal_info.name),
                        nrlx: vec![none_nrlx],
                        approved_at: updated_at,
                    });
                }
                if filed {
                    let number = service_number.clone().unwrap_or_default();
                    sample_into(&mut self.handles.public_pool, PUBLIC_POOL, self.handles.filed, (i, number));
                    self.handles.filed += 1;
                }
                self.handles.orders += 1;
                batch.orders.push(SeedOrder { order, payload: p, actor: "system".into() });
            }

            let authorized_for_reads = i < historic_end
                && i % stride == 0
                && (self.handles.authorized.len() as u64) < self.plan.authorized;
            if i >= historic_end || authorized_for_reads {
                let token = new_token();
                let scopes = vec![18, 156];
                batch.authorizations.push(Authorization {
                    component_appid: self.plan.component_appid.clone(),
                    appid: appid.clone(),
                    scopes: scopes.clone(),
                    active: true,
                    created_at: now,
                    updated_at: now,
                });
                batch.tokens.push((
                    sha256_hex(&token),
                    TokenRecord {
                        kind: TokenKind::AuthorizerAccess,
                        component_appid: self.plan.component_appid.clone(),
                        appid: appid.clone(),
                        scopes,
                        created_at: now,
                        expires_at: now + ACCESS_TTL,
                        superseded_at: None,
                    },
                ));
                if i >= historic_end {
                    let media = [random_hex(24), random_hex(24)];
                    for (id, field) in media.iter().zip([
                        "icp_subject.principal_info.certificate_photo_front",
                        "icp_subject.principal_info.certificate_photo_back",
                    ]) {
                        batch.media.push(MediaMeta {
                            media_id: id.clone(),
                            appid: appid.clone(),
                            media_type: MediaType::Image,
                            certificate_type: Some(2),
                            icp_order_field: field.into(),
                            content_type: "image/jpeg".into(),
                            size: JPEG.len() as u64,
                            sha256: self.jpeg_sha.clone(),
                            created_at: now,
                        });
                    }
                    let task_id = random_hex(16);
                    batch.face_tasks.push(FaceTask {
                        task_id: task_id.clone(),
                        appid: appid.clone(),
                        face_status: FaceStatus::Succeeded,
                        is_finish: true,
                        created_at: now,
                        expires_at: now + FACE_TASK_TTL_SECS,
                    });
                    self.handles.ready.push(Ready { i, appid: appid.clone(), token, media, task_id });
                } else {
                    self.handles.authorized.push((appid.clone(), token));
                }
            }
            batch.mini_programs.push((mp, String::new()));
        }
        self.next = end;
        Some(batch)
    }
}

/// The applyIcpFiling body of a prepared mini program: a personal subject whose principal is
/// the admin, every rule satisfied.
pub fn apply_body(r: &Ready) -> String {
    let (province, city, district, _) = REGIONS[0];
    let id = resident_id(district, r.i);
    let name = person_name(r.i);
    let principal = serde_json::json!({
        "name": name, "mobile": mobile(r.i), "email": format!("admin{}@example.com", r.i),
        "emergency_contact": emergency(r.i), "certificate_type": 2, "certificate_number": id,
        "certificate_validity_date_start": "20200101", "certificate_validity_date_end": "长期",
        "certificate_photo_front": r.media[0], "certificate_photo_back": r.media[1]
    });
    let mut applet_principal = principal.clone();
    applet_principal["verify_task_id"] = r.task_id.clone().into();
    serde_json::json!({
        "icp_subject": {
            "base_info": {"type": 5, "name": name, "province": province, "city": city, "district": district,
                          "address": "科技园路1号A座101室"},
            "organize_info": {"certificate_type": 2, "certificate_number": id,
                              "certificate_address": "广东省深圳市南山区科技园路1号A座101室"},
            "principal_info": principal
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1], "nrlx_details": [{"type": 24}], "comment": COMMENT},
            "principal_info": applet_principal
        },
        "icp_materials": {}
    })
    .to_string()
}

/// Reservoir sampling with a deterministic draw: after item `k` (counting from 0), `pool`
/// holds `cap` of the items so far, each equally likely.
fn sample_into<T>(pool: &mut Vec<T>, cap: usize, k: u64, item: T) {
    if (k as usize) < cap {
        pool.push(item);
    } else if let Some(slot) = pool.get_mut((mix(k ^ 0xF66) % (k + 1)) as usize) {
        *slot = item;
    }
}

/// What the public query scenario asks, in tenths (the mix printed in the report).
pub const QUERY_MIX: &str = "20 % exact service number and 10 % appid (both drawn from a uniform sample of \
     up to 100,000 of the filed mini programs across all N), 30 % rare substrings (a filed mini program's \
     whole name, or its brand + domain + suffix), 40 % common substrings (domain words, brands, city + brand, \
     three-character cuts, surname + given name, domain + suffix; one in eight matching nothing)";

/// Query `k` of the public query scenario ([`QUERY_MIX`]) over `pool` (see
/// [`Handles::public_pool`]); only common substrings when the pool is empty.
pub fn public_query(k: u64, pool: &[(u64, String)]) -> String {
    let h = mix(k ^ 0x1D7);
    let Some((i, number)) = pool.get((h >> 8) as usize % pool.len().max(1)) else {
        return query_term(k);
    };
    match h % 10 {
        0 | 1 => number.clone(),
        2 => appid(*i),
        3..=5 => {
            let name = app_name(*i);
            if (h >> 40) & 1 == 0 {
                name
            } else {
                // Drop the city: brand + domain + suffix.
                name.chars().skip(2).collect()
            }
        }
        _ => query_term(k),
    }
}

/// Name substrings people would type: domain words, city + domain, brand, surname + given
/// name, three-character cuts, and terms that match nothing.
pub fn query_term(k: u64) -> String {
    let h = mix(k ^ 0xE55);
    match h % 8 {
        0 | 1 => DOMAINS[((h >> 8) % 60) as usize].to_string(),
        2 => format!("{}{}", CITIES[((h >> 8) % 30) as usize], BRANDS[((h >> 16) % 40) as usize]),
        3 => BRANDS[((h >> 8) % 40) as usize].to_string(),
        4 => {
            let name = app_name(h >> 8);
            let chars: Vec<char> = name.chars().collect();
            let start = ((h >> 40) as usize) % chars.len().saturating_sub(3).max(1);
            chars[start..(start + 3).min(chars.len())].iter().collect()
        }
        5 => format!("{}{}", SURNAMES[((h >> 8) % 40) as usize], GIVEN[((h >> 16) % 40) as usize]),
        6 => format!("{}{}", DOMAINS[((h >> 8) % 60) as usize], SUFFIXES[((h >> 16) % 15) as usize]),
        _ => "量子纠缠".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..2_000_000u64).step_by(997) {
            let id = resident_id("440305", i);
            assert!(beian_core::ident::ResidentId::parse(&id).is_ok(), "{id}");
            assert!(seen.insert(id));
            assert!(beian_core::ident::is_mobile(&mobile(i)));
        }
        for b in [0u64, 1, 77, 123_456] {
            let code = credit_code("440305", b);
            assert!(beian_core::ident::check_uscc(&code).is_ok(), "{code}");
        }
        assert_eq!(appid(1).len(), 18);
        assert!(appid(9) < appid(10));
    }

    #[test]
    fn batches_are_consistent() {
        let plan = Plan {
            n: 400,
            apply_ready: 40,
            authorized: 20,
            batch: 100,
            now: 1_780_000_000,
            component_appid: "wxcomp".into(),
            public_index: true,
            jpeg_digest: "0".repeat(64),
        };
        let mut g = Generator::new(plan, 2026, |s| format!("{s}*"));
        let mut mps = 0;
        let mut last = None;
        while let Some(b) = g.next_batch() {
            mps += b.mini_programs.len();
            // Every order names a subject of its own batch; filed orders have numbers.
            for o in &b.orders {
                let sid = o.order.subject_id.clone().unwrap_or_default();
                assert!(b.subjects.iter().any(|s| s.id == sid));
                if matches!(o.order.state, FilingState::Filed { .. }) {
                    assert!(o.order.service_record_number.is_some());
                }
            }
            for s in &b.subjects {
                assert!(s.ever_filed || s.in_progress <= 1, "rule 5 holds for {}", s.id);
            }
            last = Some(b);
        }
        assert_eq!(mps, 400);
        assert!(last.is_some_and(|b| !b.counters.is_empty()));
        assert_eq!(g.handles.ready.len(), 40);
        assert_eq!(g.handles.authorized.len(), 20);
        assert!(g.handles.filed > 150 && g.handles.filed < 300, "{}", g.handles.filed);
        let body: serde_json::Value = serde_json::from_str(&apply_body(&g.handles.ready[0])).expect("json");
        assert_eq!(body["icp_subject"]["base_info"]["type"], 5);
        assert!(query_term(3).chars().count() >= 2);
        // The pool samples filed mini programs; the mix asks numbers, appids and names.
        assert!(!g.handles.public_pool.is_empty() && g.handles.public_pool.len() as u64 == g.handles.filed);
        let qs: Vec<String> = (0..200).map(|k| public_query(k, &g.handles.public_pool)).collect();
        assert!(qs.iter().any(|q| q.contains("ICP备")), "exact numbers");
        assert!(qs.iter().any(|q| q.starts_with("wx") && q.len() == 18), "appids");
        assert!(
            qs.iter().any(|q| g.handles.public_pool.iter().any(|(i, _)| app_name(*i) == *q)),
            "whole names"
        );
        assert_eq!(public_query(5, &[]), query_term(5));
    }

    #[test]
    fn the_public_pool_is_a_uniform_sample() {
        let mut pool = Vec::new();
        for k in 0..300_000u64 {
            sample_into(&mut pool, 3000, k, k);
        }
        assert_eq!(pool.len(), 3000);
        // Drawn from the whole range, not only its start: each third holds about a third.
        for third in 0..3u64 {
            let inside = pool.iter().filter(|k| **k / 100_000 == third).count();
            assert!((850..=1150).contains(&inside), "third {third}: {inside}");
        }
    }
}
