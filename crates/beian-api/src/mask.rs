//! getOnlineIcpOrder's view of a filing: media fields removed, people's data masked the way
//! WeChat's sample masks it (`*三`, `11**************34`, `13*******21`).

use beian_core::payload::ApplyPayload;
use serde_json::Value;

const MEDIA_FIELDS: [&str; 7] = [
    "certificate_photo",
    "certificate_photo_front",
    "certificate_photo_back",
    "authorization_letter",
    "residence_permit",
    "verify_task_id",
    "media",
];

/// Keep the last character: `张三` → `*三`.
pub fn mask_name(s: &str) -> String {
    let n = s.chars().count();
    if n <= 1 {
        return s.to_string();
    }
    let last: String = s.chars().skip(n - 1).collect();
    format!("{}{last}", "*".repeat(n - 1))
}

/// Keep two characters at each end: `13012344321` → `13*******21`.
pub fn mask_number(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 4))
}

/// Keep the first character of the local part: `lisi@example.com` → `l***@example.com`.
pub fn mask_email(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_number(s),
    }
}

fn strip_media(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for f in MEDIA_FIELDS {
                m.remove(f);
            }
            for (_, child) in m.iter_mut() {
                strip_media(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_media),
        _ => {}
    }
}

fn mask_str(v: &mut Value, key: &str, f: fn(&str) -> String) {
    if let Some(Value::String(s)) = v.get_mut(key) {
        if !s.is_empty() {
            *s = f(s);
        }
    }
}

fn mask_principal(p: &mut Value) {
    mask_str(p, "name", mask_name);
    mask_str(p, "mobile", mask_number);
    mask_str(p, "emergency_contact", mask_number);
    mask_str(p, "certificate_number", mask_number);
    mask_str(p, "email", mask_email);
}

/// (icp_subject, icp_applets item) as served.
pub fn online_order(p: &ApplyPayload) -> (Value, Value) {
    let mut subject = serde_json::to_value(&p.icp_subject).unwrap_or(Value::Null);
    let mut applet = serde_json::to_value(&p.icp_applets).unwrap_or(Value::Null);
    strip_media(&mut subject);
    strip_media(&mut applet);
    let personal = p.icp_subject.base_info.subject_type == Some(5)
        || p.icp_subject.organize_info.certificate_number == p.icp_subject.principal_info.certificate_number;
    if let Some(pi) = subject.get_mut("principal_info") {
        mask_principal(pi);
    }
    if let Some(l) = subject.get_mut("legal_person_info") {
        mask_str(l, "name", mask_name);
        mask_str(l, "certificate_number", mask_number);
    }
    if personal {
        // A person's subject fields are that person's name and ID number.
        if let Some(b) = subject.get_mut("base_info") {
            mask_str(b, "name", mask_name);
        }
        if let Some(o) = subject.get_mut("organize_info") {
            mask_str(o, "certificate_number", mask_number);
        }
    }
    if let Some(pi) = applet.get_mut("principal_info") {
        mask_principal(pi);
    }
    (subject, applet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_wechat() {
        assert_eq!(mask_name("张三"), "*三");
        assert_eq!(mask_name("欧阳修"), "**修");
        assert_eq!(mask_number("110105199001011234"), "11**************34");
        assert_eq!(mask_number("13012344321"), "13*******21");
        assert_eq!(mask_email("lisi@example.com"), "l***@example.com");
    }
}
