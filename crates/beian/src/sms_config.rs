//! `[sms]` in `beian.toml`: which sender texts go through, the vendor's credentials, the
//! event → template registry (`[[sms.templates]]`) and beian's own per-number limits
//! (`[sms.limits]`). See README "Connect your channels" and `docs/sms-templates.md`.

use anyhow::{bail, Result};
use beian_service::sms_limits::SmsLimits;
use beian_vendors::sms::{SmsTemplate, SmsTemplates, SmsVendorConfig};
use serde::Deserialize;

/// `[sms]` as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsFileConfig {
    /// `aliyun`, `tencent` or `http` (the generic gateway of `[sms_gateway]`).
    pub provider: Option<String>,
    /// The vendor's API endpoint [default: the vendor's public one].
    pub endpoint: Option<String>,
    /// Aliyun AccessKeyId / Tencent SecretId.
    pub key_id: Option<String>,
    /// Aliyun AccessKeySecret / Tencent SecretKey (or `BEIAN_SMS_SECRET`).
    pub secret: Option<String>,
    /// Tencent SmsSdkAppId.
    pub sdk_app_id: Option<String>,
    /// Tencent region [default: ap-guangzhou].
    pub region: Option<String>,
    #[serde(default)]
    pub templates: Vec<SmsTemplate>,
    pub limits: Option<SmsLimits>,
}

/// Never printed with its secret.
impl std::fmt::Debug for SmsFileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsFileConfig").field("provider", &self.provider).finish_non_exhaustive()
    }
}

/// Where texts go.
#[derive(Debug, Clone, Default)]
pub enum SmsProvider {
    /// `[sms_gateway]` (or nothing: then the outbox or no channel, see `app::channels`).
    #[default]
    Http,
    Aliyun(SmsVendorConfig, SmsTemplates),
    Tencent(SmsVendorConfig, SmsTemplates),
}

/// `[sms]` resolved.
#[derive(Debug, Clone, Default)]
pub struct SmsConfig {
    pub provider: SmsProvider,
    pub limits: SmsLimits,
}

/// Resolve `[sms]`: a vendor needs its credentials and a template for every event it may
/// send (`simulator`: the built-in authority simulator is the gateway, so its texts too);
/// the error names every event without one.
pub fn resolve(
    file: SmsFileConfig,
    has_gateway: bool,
    simulator: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SmsConfig> {
    let limits = file.limits.unwrap_or_default();
    if [limits.per_minute, limits.per_hour, limits.per_day, limits.dedupe_secs].iter().any(|v| *v < 0) {
        bail!("[sms.limits] values must be 0 (off) or more");
    }
    let provider = file.provider.as_deref().map(|p| p.trim().to_ascii_lowercase());
    let vendor = match provider.as_deref() {
        None | Some("http") => {
            if provider.is_some() && !has_gateway {
                bail!("[sms] provider = \"http\" needs [sms_gateway] (url, api_key, sign_name)");
            }
            if !file.templates.is_empty() {
                tracing::info!("[[sms.templates]] are only used by the aliyun and tencent providers");
            }
            return Ok(SmsConfig { provider: SmsProvider::Http, limits });
        }
        Some(v @ ("aliyun" | "tencent")) => v.to_string(),
        Some(other) => {
            bail!("[sms] provider = {other:?} is not known: use \"aliyun\", \"tencent\" or \"http\"")
        }
    };
    if has_gateway {
        bail!("[sms] provider = {vendor:?} and [sms_gateway] are both set: choose where texts go");
    }
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let secret = set(env("BEIAN_SMS_SECRET")).or(set(file.secret));
    let mut missing = Vec::new();
    if set(file.key_id.clone()).is_none() {
        missing.push("key_id");
    }
    if secret.is_none() {
        missing.push("secret (or BEIAN_SMS_SECRET)");
    }
    if vendor == "tencent" && set(file.sdk_app_id.clone()).is_none() {
        missing.push("sdk_app_id (SmsSdkAppId)");
    }
    if !missing.is_empty() {
        bail!("[sms] provider = {vendor:?} needs {}", missing.join(", "));
    }
    let templates = SmsTemplates::new(file.templates).map_err(|e| anyhow::anyhow!(e))?;
    let required = beian_ports::messaging::SMS_EVENTS
        .iter()
        .map(|(e, _)| *e)
        .filter(|e| simulator || *e != "authority_simulator");
    let without = templates.missing(required);
    if !without.is_empty() {
        bail!(
            "[sms] provider = {vendor:?}: no [[sms.templates]] for the events {} (vendors send approved \
             templates only; see docs/sms-templates.md)",
            without.join(", ")
        );
    }
    let default_endpoint = if vendor == "aliyun" {
        beian_vendors::sms::ALIYUN_ENDPOINT
    } else {
        beian_vendors::sms::TENCENT_ENDPOINT
    };
    let config = SmsVendorConfig {
        endpoint: set(file.endpoint).unwrap_or_else(|| default_endpoint.into()).trim().to_string(),
        key_id: file.key_id.unwrap_or_default().trim().to_string(),
        secret: secret.unwrap_or_default().trim().to_string(),
        sdk_app_id: file.sdk_app_id,
        region: file.region,
    };
    let provider = if vendor == "aliyun" {
        SmsProvider::Aliyun(config, templates)
    } else {
        SmsProvider::Tencent(config, templates)
    };
    Ok(SmsConfig { provider, limits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(t: &str) -> SmsFileConfig {
        toml::from_str::<crate::config::FileConfig>(t).expect("toml").sms.unwrap_or_default()
    }

    const ALIYUN: &str = "[sms]\nprovider = \"aliyun\"\nkey_id = \"LTAI\"\nsecret = \"s\"\n\
        [[sms.templates]]\nevent = \"status_notice\"\nsign_name = \"小程序备案\"\ntemplate_id = \"SMS_1\"\nparams = [\"name\", \"title\"]\n";

    #[test]
    fn a_vendor_without_every_template_is_refused_naming_the_events() {
        let err = resolve(file(ALIYUN), false, false, |_| None).expect_err("face_verification has none");
        let msg = err.to_string();
        assert!(msg.contains("face_verification") && !msg.contains("status_notice"), "{msg}");
        assert!(!msg.contains("authority_simulator"), "only with the simulator: {msg}");
        let err = resolve(file(ALIYUN), false, true, |_| None).expect_err("simulator");
        assert!(err.to_string().contains("authority_simulator"), "{err}");
        let full = format!(
            "{ALIYUN}[[sms.templates]]\nevent = \"face_verification\"\nsign_name = \"小程序备案\"\n\
             template_id = \"SMS_2\"\nparams = [\"name\", \"link\"]\n[sms.limits]\nper_minute = 2\n"
        );
        let c = resolve(file(&full), false, false, |_| None).expect("complete");
        assert!(matches!(c.provider, SmsProvider::Aliyun(..)));
        assert_eq!((c.limits.per_minute, c.limits.per_hour, c.limits.per_day), (2, 5, 10));
        assert!(!format!("{c:?}").contains("secret: \"s\""), "the secret never prints");
    }

    #[test]
    fn credentials_and_the_choice_of_sender_are_checked() {
        let err =
            resolve(file("[sms]\nprovider = \"tencent\"\n"), false, false, |_| None).expect_err("creds");
        for k in ["key_id", "BEIAN_SMS_SECRET", "sdk_app_id"] {
            assert!(err.to_string().contains(k), "{err}");
        }
        assert!(resolve(file(ALIYUN), true, false, |_| None).is_err(), "not beside [sms_gateway]");
        assert!(resolve(file("[sms]\nprovider = \"http\"\n"), false, false, |_| None).is_err());
        assert!(resolve(file("[sms]\nprovider = \"sms77\"\n"), false, false, |_| None).is_err());
        let d = resolve(SmsFileConfig::default(), false, false, |_| None).expect("default");
        assert_eq!(d.limits, SmsLimits::default());
    }
}
