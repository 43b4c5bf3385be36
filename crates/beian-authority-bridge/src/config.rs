//! `[authority.bridge]`: where the bridge is, the shared keys, the replay window, the timeout.
//! Secrets come only from the file or the environment (`BEIAN_BRIDGE_KEYS`), never a flag,
//! and never print.

use crate::protocol::{Keys, DEFAULT_REPLAY_WINDOW_SECS};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[authority.bridge]` in `beian.toml`. Every key is optional here; [`BridgeConfig::resolve`]
/// says what is missing.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeFileConfig {
    /// The bridge's base URL (`https://bridge.internal:8443`); operations go to `{url}/v1/operations`.
    pub url: Option<String>,
    /// The id of the key outbound requests are signed with.
    pub current_key: Option<String>,
    /// `[authority.bridge.keys]`: id = secret. Inbound requests may use any of them.
    pub keys: Option<BTreeMap<String, String>>,
    /// Seconds a signed request stays acceptable either side of this server's clock (300).
    pub replay_window_secs: Option<u64>,
    /// Seconds an outbound request may take (10).
    pub timeout_secs: Option<u64>,
}

/// The bridge's effective settings. `Debug` prints the key ids only.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub url: String,
    pub keys: Keys,
    pub current_key: String,
    pub replay_window_secs: u64,
    pub timeout: Duration,
}

pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

impl BridgeConfig {
    /// The file's settings under the environment's: `BEIAN_BRIDGE_URL`, `BEIAN_BRIDGE_KEYS`
    /// (`id=secret,id=secret`), `BEIAN_BRIDGE_CURRENT_KEY`. Refused, naming every missing
    /// setting, when incomplete; and when the current key is not among the keys.
    pub fn resolve(
        file: BridgeFileConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<BridgeConfig, String> {
        let set = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let url = set(env("BEIAN_BRIDGE_URL")).or(set(file.url));
        let keys = match set(env("BEIAN_BRIDGE_KEYS")) {
            Some(list) => Keys::parse_list(&list)?,
            None => Keys::new(file.keys.unwrap_or_default())?,
        };
        let current = set(env("BEIAN_BRIDGE_CURRENT_KEY")).or(set(file.current_key));
        let mut missing = Vec::new();
        if url.is_none() {
            missing.push("url (BEIAN_BRIDGE_URL)");
        }
        if keys.is_empty() {
            missing.push("keys (BEIAN_BRIDGE_KEYS)");
        }
        if current.is_none() {
            missing.push("current_key (BEIAN_BRIDGE_CURRENT_KEY)");
        }
        let (Some(url), Some(current_key)) = (url, current) else {
            return Err(format!("[authority.bridge] needs {}", missing.join(", ")));
        };
        if !missing.is_empty() {
            return Err(format!("[authority.bridge] needs {}", missing.join(", ")));
        }
        if !keys.contains(&current_key) {
            return Err(format!(
                "[authority.bridge] current_key {current_key:?} is not one of the keys {:?}",
                keys.ids()
            ));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("[authority.bridge] url {url:?} must start with http:// or https://"));
        }
        let replay_window_secs = file.replay_window_secs.unwrap_or(DEFAULT_REPLAY_WINDOW_SECS);
        if !(10..=3600).contains(&replay_window_secs) {
            return Err("[authority.bridge] replay_window_secs must be between 10 and 3600".into());
        }
        let timeout_secs = file.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(1..=120).contains(&timeout_secs) {
            return Err("[authority.bridge] timeout_secs must be between 1 and 120".into());
        }
        Ok(BridgeConfig {
            url: url.trim_end_matches('/').to_string(),
            keys,
            current_key,
            replay_window_secs,
            timeout: Duration::from_secs(timeout_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn incomplete_settings_name_what_is_missing() {
        let err = BridgeConfig::resolve(BridgeFileConfig::default(), |_| None).expect_err("empty");
        for name in ["url", "keys", "current_key"] {
            assert!(err.contains(name), "{err}");
        }
        let file = BridgeFileConfig {
            url: Some("http://127.0.0.1:9".into()),
            current_key: Some("k2".into()),
            keys: Some([("k1".to_string(), SECRET.to_string())].into()),
            ..Default::default()
        };
        let err = BridgeConfig::resolve(file, |_| None).expect_err("current key unknown");
        assert!(err.contains("not one of the keys"), "{err}");
    }

    #[test]
    fn the_environment_wins_and_secrets_never_print() {
        let file = BridgeFileConfig {
            url: Some("http://file:1/".into()),
            current_key: Some("k1".into()),
            keys: Some([("k1".to_string(), SECRET.to_string())].into()),
            ..Default::default()
        };
        let env = |k: &str| match k {
            "BEIAN_BRIDGE_KEYS" => Some(format!("k1={SECRET},k2=fedcba9876543210fedcba9876543210")),
            "BEIAN_BRIDGE_CURRENT_KEY" => Some("k2".into()),
            _ => None,
        };
        let c = BridgeConfig::resolve(file, env).expect("complete");
        assert_eq!(
            (c.url.as_str(), c.current_key.as_str(), c.replay_window_secs),
            ("http://file:1", "k2", 300)
        );
        let printed = format!("{c:?}");
        assert!(!printed.contains(SECRET) && !printed.contains("fedcba"), "{printed}");
    }
}
