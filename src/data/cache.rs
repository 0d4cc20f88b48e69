//! The decoded-pixel cache of folder data sets: one file per folder part (`train/`, `test/`, ... or
//! the class folders themselves) and image size and resize policy, under `$KINDLING_CACHE` (else
//! `$XDG_CACHE_HOME/kindling/folders`, else `~/.cache/kindling/folders`).
//!
//! An entry is valid for a file with the same path (relative to the data set's folder), size and
//! modification time; any other file is decoded again and the cache rewritten. Images are stored
//! fitted to the size, as one grey plane or three RGB planes, so one cache serves grey and colour
//! models alike; files that did not decode are stored with the reason, so they are not tried on
//! every run. The file ends with a checksum: a truncated or damaged cache is rebuilt, never used.

use super::image::ImageSpec;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"KINDLING-FOLDER-CACHE\0";
const VERSION: u32 = 1;

/// A file as listed on disk: path relative to the data set's folder, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// Path relative to the data set's folder, `/`-separated.
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since 1970.
    pub mtime_ns: u64,
}

impl FileKey {
    /// The key of the file at `abs`, listed as `rel` (symlinks followed).
    pub fn of(rel: &str, abs: &Path) -> std::io::Result<FileKey> {
        let m = std::fs::metadata(abs)?;
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(FileKey { rel: rel.to_string(), size: m.len(), mtime_ns })
    }
}

/// One file, decoded and fitted: its pixels, or why it could not be.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A grey image: one `H·W` plane.
    Grey(Vec<u8>),
    /// A colour image: R, G and B planes, `3·H·W` values.
    Colour(Vec<u8>),
    /// Not an image kindling can read, in words (e.g. `is empty (0 bytes)`).
    Bad(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    root: String,
    part: String,
    spec: ImageSpec,
    entries: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    rel: String,
    size: u64,
    mtime_ns: u64,
    /// 0: bad, 1: grey, 3: colour.
    planes: u8,
    /// Where its pixels start in the blob.
    offset: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    reason: String,
}

/// The default cache folder: `$KINDLING_CACHE`, else `$XDG_CACHE_HOME/kindling/folders`, else
/// `$HOME/.cache/kindling/folders` (`None` when none is set).
pub fn default_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("KINDLING_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("kindling").join("folders")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("kindling").join("folders")))
}

/// A folder part's cache, as read from disk.
pub struct Cache {
    /// The cache file.
    pub path: PathBuf,
    root: String,
    part: String,
    spec: ImageSpec,
    entries: HashMap<String, (FileKey, Decoded)>,
    /// Why the file on disk was not used, when it exists and was not (damaged, another version).
    pub rejected: Option<String>,
}

impl Cache {
    /// The cache of `part` (`train`, `test`, `val` or `` for class folders directly in the
    /// folder) of the data set at `root` (absolute), for images fitted to `spec` (its channel count
    /// is not part of the key), in folder `dir`. A missing file gives an empty cache; a damaged one
    /// an empty cache that says why in [`rejected`](Self::rejected).
    pub fn open(dir: &Path, root: &Path, part: &str, spec: &ImageSpec) -> Cache {
        let spec = ImageSpec { channels: 0, ..*spec };
        let root_s = root.to_string_lossy().to_string();
        let key = format!("{root_s}\n{part}\n{}x{}\n{}", spec.width, spec.height, spec.resize);
        let name = format!(
            "{}-{}-{}x{}-{}-{:016x}.bin",
            sanitize(root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()),
            if part.is_empty() { "all" } else { part },
            spec.width,
            spec.height,
            spec.resize,
            hash64(key.as_bytes())
        );
        let path = dir.join(name);
        let mut cache =
            Cache { path, root: root_s, part: part.to_string(), spec, entries: HashMap::new(), rejected: None };
        match std::fs::read(&cache.path) {
            Ok(bytes) => match cache.parse(&bytes) {
                Ok(entries) => cache.entries = entries,
                Err(why) => cache.rejected = Some(why),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => cache.rejected = Some(format!("cannot be read: {e}")),
        }
        cache
    }

    fn parse(&self, bytes: &[u8]) -> std::result::Result<HashMap<String, (FileKey, Decoded)>, String> {
        let damaged = || "is damaged (truncated or overwritten)".to_string();
        let rest = bytes.strip_prefix(MAGIC).ok_or("is not a kindling folder cache")?;
        let mut r = Reader(rest);
        let version = u32::from_le_bytes(r.take(4).ok_or_else(damaged)?.try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(format!(
                "was written by another version of kindling (format {version}, this one reads {VERSION})"
            ));
        }
        let body_start = bytes.len() - r.0.len();
        let header_len = r.u64().ok_or_else(damaged)? as usize;
        let header = r.take(header_len).ok_or_else(damaged)?;
        let blob_len = r.u64().ok_or_else(damaged)? as usize;
        let blob = r.take(blob_len).ok_or_else(damaged)?;
        let body_end = bytes.len() - r.0.len();
        let sum = r.u64().ok_or_else(damaged)?;
        if !r.0.is_empty() || sum != hash64(&bytes[body_start..body_end]) {
            return Err(damaged());
        }
        let header: Header = serde_json::from_slice(header).map_err(|_| damaged())?;
        if header.root != self.root || header.part != self.part || header.spec != self.spec {
            return Err("belongs to another folder or image size".into());
        }
        let plane = self.spec.width * self.spec.height;
        let mut out = HashMap::with_capacity(header.entries.len());
        for e in header.entries {
            let n = e.planes as usize * plane;
            let at = e.offset as usize;
            let px = blob.get(at..at + n).ok_or_else(damaged)?;
            let d = match e.planes {
                0 => Decoded::Bad(e.reason),
                1 => Decoded::Grey(px.to_vec()),
                3 => Decoded::Colour(px.to_vec()),
                _ => return Err(damaged()),
            };
            out.insert(e.rel.clone(), (FileKey { rel: e.rel, size: e.size, mtime_ns: e.mtime_ns }, d));
        }
        Ok(out)
    }

    /// The cached result for `key`, when the file has not changed since.
    pub fn get(&self, key: &FileKey) -> Option<&Decoded> {
        self.entries.get(&key.rel).filter(|(k, _)| k == key).map(|(_, d)| d)
    }

    /// [`get`](Self::get), moving the entry out of the cache (a later [`write`](Self::write)
    /// writes what the caller hands back).
    pub fn take(&mut self, key: &FileKey) -> Option<Decoded> {
        match self.entries.get(&key.rel) {
            Some((k, _)) if k == key => self.entries.remove(&key.rel).map(|(_, d)| d),
            _ => None,
        }
    }

    /// Number of entries read from disk.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was read from disk.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes `fresh` (every file of this load) to the cache file, with the old entries that
    /// `keep_old` accepts (files of classes this load did not read), atomically.
    pub fn write<'a>(
        &self,
        fresh: impl Iterator<Item = (&'a FileKey, &'a Decoded)>,
        keep_old: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let mut entries = vec![];
        let mut blob = vec![];
        let mut push = |k: &FileKey, d: &Decoded| {
            let (planes, px, reason) = match d {
                Decoded::Bad(r) => (0, &[][..], r.clone()),
                Decoded::Grey(p) => (1, &p[..], String::new()),
                Decoded::Colour(p) => (3, &p[..], String::new()),
            };
            entries.push(Entry {
                rel: k.rel.clone(),
                size: k.size,
                mtime_ns: k.mtime_ns,
                planes,
                offset: blob.len() as u64,
                reason,
            });
            blob.extend_from_slice(px);
        };
        let mut seen = std::collections::HashSet::new();
        for (k, d) in fresh {
            seen.insert(k.rel.clone());
            push(k, d);
        }
        let mut old: Vec<_> =
            self.entries.values().filter(|(k, _)| !seen.contains(&k.rel) && keep_old(&k.rel)).collect();
        old.sort_by(|a, b| a.0.rel.cmp(&b.0.rel));
        for (k, d) in old {
            push(k, d);
        }
        let header = Header { root: self.root.clone(), part: self.part.clone(), spec: self.spec, entries };
        let header = serde_json::to_vec(&header).expect("cache header serializes");
        let mut bytes = Vec::with_capacity(MAGIC.len() + 28 + header.len() + blob.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        let body_start = bytes.len();
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&blob);
        let sum = hash64(&bytes[body_start..]);
        bytes.extend_from_slice(&sum.to_le_bytes());
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::data(dir, format!("cannot create the cache folder: {e}")))?;
        }
        let tmp = self.path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &self.path)).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::data(&self.path, format!("cannot write the cache: {e}"))
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

fn sanitize(s: String) -> String {
    let s: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() {
        "folder".into()
    } else {
        s.chars().take(40).collect()
    }
}

/// A 64-bit hash of `bytes`, 8 bytes at a time (FNV-1a's constants on words): stable across
/// builds and platforms, to name cache files and check their contents (not cryptographic).
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::image::ResizePolicy;

    #[test]
    fn round_trip_and_damage() {
        let dir = std::env::temp_dir().join(format!("kindling-cache-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spec = ImageSpec { channels: 3, height: 2, width: 2, resize: ResizePolicy::Squash };
        let root = Path::new("/data/pets");
        let c = Cache::open(&dir, root, "train", &spec);
        assert!(c.is_empty() && c.rejected.is_none());
        let k = |rel: &str, size| FileKey { rel: rel.into(), size, mtime_ns: 7 };
        let files = [
            (k("cat/a.png", 10), Decoded::Colour((0..12).collect())),
            (k("cat/b.png", 11), Decoded::Grey(vec![1, 2, 3, 4])),
            (k("dog/c.txt", 12), Decoded::Bad("is not an image".into())),
        ];
        c.write(files.iter().map(|(k, d)| (k, d)), |_| true).unwrap();
        let c = Cache::open(&dir, root, "train", &ImageSpec { channels: 1, ..spec });
        assert_eq!(c.len(), 3, "the channel count is not part of the key");
        for (key, d) in &files {
            assert_eq!(c.get(key), Some(d));
        }
        assert_eq!(c.get(&k("cat/a.png", 99)), None, "a changed file is not served from the cache");
        assert!(Cache::open(&dir, root, "test", &spec).is_empty());
        assert!(Cache::open(&dir, root, "train", &ImageSpec { resize: ResizePolicy::Pad, ..spec }).is_empty());
        // One flipped byte and the file is refused.
        let mut bytes = std::fs::read(&c.path).unwrap();
        let n = bytes.len();
        bytes[n - 20] ^= 1;
        std::fs::write(&c.path, &bytes).unwrap();
        let c = Cache::open(&dir, root, "train", &spec);
        assert!(c.is_empty());
        assert!(c.rejected.as_deref().unwrap().contains("damaged"));
        std::fs::write(&c.path, &bytes[..n / 2]).unwrap();
        assert!(Cache::open(&dir, root, "train", &spec).rejected.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hash_sees_every_byte() {
        let a = vec![0u8; 1000];
        let mut b = a.clone();
        b[999] = 1;
        assert_ne!(hash64(&a), hash64(&b));
        assert_ne!(hash64(&a[..999]), hash64(&a));
    }
}
