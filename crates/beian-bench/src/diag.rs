//! Store-level diagnostics, in this process (no HTTP): how much of a scenario's cost is the
//! shape of its transactions. Evidence for the recommendations in docs/benchmarks.md.

use crate::load::{self, Load};
use crate::stats::Sample;
use beian_store::Store;
use std::sync::Arc;

/// The reads behind `get_icp_entrance_info` (token, authorization, mini program, order).
/// `one_tx = false`: as the service runs them today, in three read transactions (token; the
/// authorization; the mini program and its order). `true`: the same four queries in one.
pub async fn entrance_reads(
    store: &Store,
    tokens: Arc<Vec<(String, String)>>,
    component_appid: &str,
    load: Load,
    one_tx: bool,
) -> (Sample, Option<String>) {
    let (store, component) = (store.clone(), component_appid.to_string());
    load::run(load, move |i| {
        let (store, tokens, component) = (store.clone(), tokens.clone(), component.clone());
        async move {
            let Some((appid, token)) = tokens.get((crate::gen::mix(i) % tokens.len().max(1) as u64) as usize)
            else {
                return Err("no tokens".into());
            };
            let hash = crate::gen::sha256_hex(token);
            let e = |e: beian_store::StoreError| e.to_string();
            if one_tx {
                let mut tx = store.read().await.map_err(e)?;
                tx.tokens().get(&hash).await.map_err(e)?.ok_or("no token")?;
                tx.providers()
                    .authorization(&component, appid)
                    .await
                    .map_err(e)?
                    .ok_or("no authorization")?;
                tx.mini_programs().get(appid).await.map_err(e)?.ok_or("no mini program")?;
                tx.orders().get(appid).await.map_err(e)?;
            } else {
                {
                    let mut tx = store.read().await.map_err(e)?;
                    tx.tokens().get(&hash).await.map_err(e)?.ok_or("no token")?;
                }
                {
                    let mut tx = store.read().await.map_err(e)?;
                    tx.providers()
                        .authorization(&component, appid)
                        .await
                        .map_err(e)?
                        .ok_or("no authorization")?;
                }
                let mut tx = store.read().await.map_err(e)?;
                tx.mini_programs().get(appid).await.map_err(e)?.ok_or("no mini program")?;
                tx.orders().get(appid).await.map_err(e)?;
            }
            Ok(())
        }
    })
    .await
}
