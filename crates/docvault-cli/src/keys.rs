//! The key commands: `rekey`, `encrypt`, `decrypt`. The library makes
//! each crash-safe; here they get their keys and wait their turn.

use docvault::{Config, KdfParams, Result};
use serde_json::json;

use crate::cli::{DecryptArgs, RekeyArgs};
use crate::open::{self, Ctx};
use crate::output::{shown_path as shown, Outcome};

pub fn rekey(ctx: &Ctx, a: RekeyArgs) -> Result<Outcome> {
    let path = ctx.db_path()?;
    let current =
        ctx.key_or_prompt(&format!("current passphrase for {}", path.display()), false)?;
    let new = open::new_key(a.new_key_file.as_deref(), a.new_passphrase_file.as_deref())?;
    let kdf = KdfParams::default();
    open::retry_while_in_use(ctx.wait, || docvault::rekey(&path, &current, &new, &kdf))?;
    let p = shown(&path);
    Ok(Outcome::new(
        json!({"path": p, "encrypted": true, "rekeyed": true}),
        format!("{p} is now keyed with the new key; the old one no longer opens it"),
    ))
}

pub fn encrypt(ctx: &Ctx) -> Result<Outcome> {
    let path = ctx.db_path()?;
    let key = ctx.key_or_prompt("new passphrase", true)?;
    let kdf = KdfParams::default();
    open::retry_while_in_use(ctx.wait, || docvault::encrypt(&path, &key, &kdf))?;
    let p = shown(&path);
    Ok(Outcome::new(
        json!({"path": p, "encrypted": true}),
        format!("{p} is now encrypted"),
    ))
}

pub fn decrypt(ctx: &Ctx, a: DecryptArgs) -> Result<Outcome> {
    let config = Config {
        access_tracking: false,
        cache_capacity_bytes: 0,
        ..Config::default()
    };
    let documents = ctx.with_store(config, |s| {
        s.decrypt_to(&a.out)?;
        Ok(s.stats()?.documents)
    })?;
    let p = shown(&a.out);
    Ok(Outcome::new(
        json!({"out": p, "documents": documents, "encrypted": false}),
        format!("wrote a plaintext copy of {documents} documents to {p}"),
    ))
}
