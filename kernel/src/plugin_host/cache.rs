//! The on-disk cache of compiled plugins.
//!
//! An artifact is native code, and loading one runs no verifier: wasmtime trusts it. So the cache
//! only loads files this kernel wrote itself. Each artifact `<key>.cwasm` has a sidecar
//! `<key>.cwasm.tag` holding the SHA-256 of the artifact, written after the artifact; a file
//! without a matching tag (tampered, truncated, copied from elsewhere) is compiled again from the
//! plugin's wasm and overwritten, never loaded.
//!
//! The key is the SHA-256 of the plugin's wasm plus a digest of the engine's
//! `precompile_compatibility_hash` (wasmtime version, target, and the flags that change code,
//! such as fuel), so an upgrade or a config change recompiles lazily.
//!
//! **Invariant:** the directory is writable by the kernel only. The tag guards against corruption
//! and foreign files, not against someone who can write the directory (they could write a
//! matching tag), which is why the directory is created private.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bumped when the layout of the cache changes, so old files are ignored.
const FORMAT: &str = "jingxi-plugin-artifact 1";

/// Artifacts larger than this are not ours (plugins are capped far below); reading stops there.
const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

#[derive(Debug)]
pub(super) struct ArtifactCache {
    dir: PathBuf,
    /// Hex digest of the engine's compatibility hash and [`FORMAT`].
    engine_tag: String,
}

impl ArtifactCache {
    pub(super) fn open(dir: &Path, engine: &Engine) -> io::Result<Self> {
        create_private_dir(dir)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        FORMAT.hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_tag = hex::encode(&hasher.0.finalize()[..16]);
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            engine_tag,
        })
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
        match sha256_of_file(&artifact) {
            Ok(actual) if actual == expected => {}
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
        let tag = format!(
            "{FORMAT}\nsha256 {}\n",
            hex::encode(Sha256::digest(artifact))
        );
        write_atomically(&self.dir, &self.tag_path(key), tag.as_bytes())
    }
}

/// Maps an artifact that passed its integrity check.
#[allow(unsafe_code)]
fn deserialize_verified(engine: &Engine, artifact: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file's SHA-256 matches the tag this kernel wrote next to the artifact it
    // produced with `Component::serialize`, in a directory only the kernel writes; so these are
    // wasmtime's own bytes, which is what `deserialize_file` requires.
    unsafe { Component::deserialize_file(engine, artifact) }
}

fn parse_tag(tag: &str) -> Option<String> {
    let mut lines = tag.lines();
    if lines.next() != Some(FORMAT) {
        return None;
    }
    let digest = lines.next()?.strip_prefix("sha256 ")?;
    (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digest.to_ascii_lowercase())
}

fn sha256_of_file(path: &Path) -> io::Result<String> {
    let file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut io::Read::take(file, MAX_ARTIFACT_BYTES), &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
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
            parse_tag(&format!("{FORMAT}\nsha256 {digest}\n")),
            Some(digest.clone())
        );
        assert_eq!(
            parse_tag(&format!("jingxi-plugin-artifact 0\nsha256 {digest}\n")),
            None
        );
        assert_eq!(
            parse_tag(&format!("{FORMAT}\nsha256 {}\n", &digest[1..])),
            None
        );
        assert_eq!(parse_tag(""), None);
    }
}
