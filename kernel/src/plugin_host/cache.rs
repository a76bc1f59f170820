//! The on-disk cache of compiled plugins.
//!
//! An artifact is native code, and loading one runs no verifier: wasmtime trusts it. So the cache
//! only loads files this kernel wrote itself. Each artifact `<key>.cwasm` has a sidecar
//! `<key>.cwasm.tag` holding an HMAC-SHA256 of the artifact under a secret key, written after
//! the artifact; a file without a matching tag (tampered, truncated, copied from elsewhere, or
//! written without the key) is compiled again from the plugin's wasm and overwritten, never
//! loaded. The kernel keeps the key in its database, away from the cache folder, so write access
//! to the folder alone cannot forge a tag; without a configured key (a library using the plugin
//! host on its own) the key lives in `<cache>/.artifact-key`, readable by the kernel only.
//!
//! The key is the SHA-256 of the plugin's wasm plus a digest of the engine's
//! `precompile_compatibility_hash` (wasmtime version, target, and the flags that change code,
//! such as fuel), so an upgrade or a config change recompiles lazily.
//!
//! **Invariant:** the directory is created private to the kernel; artifacts are loaded only after
//! their tag verified under the key.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bumped when the layout of the cache changes, so old files are ignored.
const FORMAT: &str = "jingxi-plugin-artifact 2";

/// Artifacts larger than this are not ours (plugins are capped far below); reading stops there.
const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

pub(super) struct ArtifactCache {
    dir: PathBuf,
    /// Hex digest of the engine's compatibility hash and [`FORMAT`].
    engine_tag: String,
    /// The HMAC key of the tags.
    key: Vec<u8>,
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCache")
            .field("dir", &self.dir)
            .field("engine_tag", &self.engine_tag)
            .finish_non_exhaustive()
    }
}

/// Files younger than this are never swept: another process may be writing them.
const SWEEP_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

impl ArtifactCache {
    /// Opens (creating) the cache folder. `key` signs the tags; `None` uses (creating) the key
    /// file in the folder.
    pub(super) fn open(dir: &Path, engine: &Engine, key: Option<&str>) -> io::Result<Self> {
        create_private_dir(dir)?;
        let key = match key {
            Some(key) if !key.is_empty() => key.as_bytes().to_vec(),
            _ => key_from_file(&dir.join(".artifact-key"))?,
        };
        let mut hasher = Sha256Hasher(Sha256::new());
        FORMAT.hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_tag = hex::encode(&hasher.0.finalize()[..16]);
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            engine_tag,
            key,
        })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    fn mac(&self, artifact: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(artifact);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Deletes artifacts (and stray temporary files) whose wasm is not in `keep` or that another
    /// engine produced, once they are older than a few minutes. Returns how many files went.
    pub(super) fn sweep(&self, keep: &[&str]) -> usize {
        let keys: std::collections::HashSet<String> =
            keep.iter().map(|sha256| self.key(sha256)).collect();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name
                .strip_suffix(".cwasm.tag")
                .or_else(|| name.strip_suffix(".cwasm"));
            let stale = match stem {
                Some(key) => !keys.contains(key),
                None => name.starts_with(".tmp-"),
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > SWEEP_GRACE);
            if stale && old && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    pub(super) fn key(&self, wasm_sha256: &str) -> String {
        format!("{wasm_sha256}-{}", self.engine_tag)
    }

    fn artifact_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    fn tag_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm.tag"))
    }

    /// Loads the artifact for `key` if it is present and its tag matches; `None` means "compile".
    pub(super) fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let artifact = self.artifact_path(key);
        let expected = match fs::read_to_string(self.tag_path(key)) {
            Ok(tag) => parse_tag(&tag)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(key, %error, "cannot read plugin artifact tag; recompiling");
                return None;
            }
        };
        match read_capped(&artifact) {
            Ok(bytes) if constant_time_eq(&self.mac(&bytes), &expected) => {}
            Ok(_) => {
                tracing::warn!(
                    key,
                    "plugin artifact fails its integrity check; recompiling"
                );
                return None;
            }
            Err(error) => {
                tracing::warn!(key, %error, "cannot read plugin artifact; recompiling");
                return None;
            }
        }
        match deserialize_verified(engine, &artifact) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(key, error = %format!("{error:#}"), "cannot load plugin artifact; recompiling");
                None
            }
        }
    }

    /// Writes the artifact, then its tag; each through a temporary file and a rename, so a reader
    /// never sees a half-written file under the final name.
    pub(super) fn store(&self, key: &str, artifact: &[u8]) -> io::Result<()> {
        write_atomically(&self.dir, &self.artifact_path(key), artifact)?;
        let tag = format!("{FORMAT}\nhmac-sha256 {}\n", self.mac(artifact));
        write_atomically(&self.dir, &self.tag_path(key), tag.as_bytes())
    }
}

/// Maps an artifact that passed its integrity check.
#[allow(unsafe_code)]
fn deserialize_verified(engine: &Engine, artifact: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file's HMAC under the kernel's secret key matches the tag the kernel wrote
    // next to the artifact wasmtime produced (`Component::serialize` or `precompile_component`
    // in the compiler worker), so these are wasmtime's own bytes, which is what
    // `deserialize_file` requires.
    unsafe { Component::deserialize_file(engine, artifact) }
}

fn parse_tag(tag: &str) -> Option<String> {
    let mut lines = tag.lines();
    if lines.next() != Some(FORMAT) {
        return None;
    }
    let digest = lines.next()?.strip_prefix("hmac-sha256 ")?;
    (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digest.to_ascii_lowercase())
}

fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(
        &mut io::Read::take(fs::File::open(path)?, MAX_ARTIFACT_BYTES),
        &mut bytes,
    )?;
    Ok(bytes)
}

/// Compares two hex digests without stopping at the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Reads the key file, or creates it (private) with 32 random bytes.
fn key_from_file(path: &Path) -> io::Result<Vec<u8>> {
    match fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    let dir = path.parent().unwrap_or(Path::new("."));
    write_atomically(dir, path, key.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    // Another process may have won the race; its key is the one on disk now.
    Ok(fs::read_to_string(path)?.trim().as_bytes().to_vec())
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

/// Feeds `Hash` output into SHA-256, giving a digest that is stable across runs (unlike
/// `DefaultHasher`, whose algorithm may change between Rust releases).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("a SHA-256 digest has 32 bytes"),
        )
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_tags() {
        let digest = "ab".repeat(32);
        assert_eq!(
            parse_tag(&format!("{FORMAT}\nhmac-sha256 {digest}\n")),
            Some(digest.clone())
        );
        assert_eq!(
            parse_tag(&format!("jingxi-plugin-artifact 1\nsha256 {digest}\n")),
            None,
            "tags of the unkeyed format are not trusted"
        );
        assert_eq!(
            parse_tag(&format!("{FORMAT}\nhmac-sha256 {}\n", &digest[1..])),
            None
        );
        assert_eq!(parse_tag(""), None);
    }

    #[test]
    fn digests_compare_whole() {
        assert!(constant_time_eq("abcd", "abcd"));
        assert!(!constant_time_eq("abcd", "abce"));
        assert!(!constant_time_eq("abcd", "abc"));
    }
}
