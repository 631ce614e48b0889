//! Name rules and the interner.
//!
//! Every name (component, I/O, tag, owner) is non-empty UTF-8 of at most 1024 bytes with no control
//! characters. Names are interned once, so the indices hold 4-byte ids, and the bytes of all names of
//! one kind live in one arena: at millions of outputs a `String` per name would cost more than the name.

use crate::error::{Result, StoreError};
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// The longest name the contract allows, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Checks the contract's name rule; `field` names the offending field in the error.
pub fn check_name(field: &str, what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(StoreError::invalid(field, format!("{field} is empty: a {what} needs a name")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(StoreError::invalid(
            field,
            format!("{field} is {} bytes long; a {what} name is at most {MAX_NAME_BYTES} bytes", name.len()),
        ));
    }
    if has_control(name)
        && let Some(c) = name.chars().find(|c| c.is_control())
    {
        return Err(StoreError::invalid(
            field,
            format!(
                "{field} contains the control character U+{:04X}; names cannot contain control characters",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// Whether `name` holds a control character. Names are almost always printable ASCII, checked a
/// byte at a time (which the compiler vectorizes); only other names are decoded into chars.
fn has_control(name: &str) -> bool {
    if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    name.chars().any(char::is_control)
}

/// [`check_name`], with the field's path built only when the name is bad: this runs for every I/O
/// name of every logged run, where formatting paths like `inputs[3].name` up front was ~4% of the
/// ingest's CPU time (perf, loadgen in-process).
pub fn check_name_lazy(field: impl FnOnce() -> String, what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES || has_control(name) {
        return check_name(&field(), what, name);
    }
    Ok(())
}

/// Checks free text (descriptions, notes, code): any characters, bounded size.
pub fn check_text(field: &str, text: &str, max_bytes: usize) -> Result<()> {
    if text.len() > max_bytes {
        return Err(StoreError::invalid(
            field,
            format!("{field} is {} bytes long; at most {max_bytes} bytes are allowed", text.len()),
        ));
    }
    Ok(())
}

/// Where a name ends is kept as its offset within a window of the arena: 4 bytes a name instead of
/// a `usize`'s 8 (4.7 bytes a run in the benchmark workload, 1.17 names a run), with the names at
/// which the arena crosses into a new window in a side vector (empty below 4 GiB of names).
#[cfg(not(test))]
const WINDOW: u64 = 1 << 32;
/// Unit tests use small windows, so that they cross some.
#[cfg(test)]
const WINDOW: u64 = 1 << 10;

/// Interned names of one kind: id → bytes, bytes → id. Serialized as its arena, name ends and
/// window crossings; the hash table is rebuilt on load (it is cheaper to rebuild than to store).
#[derive(Default)]
pub struct Interner {
    arena: String,
    /// `ends[i]` is where name `i` ends in `arena`, less the start of its window; it starts where
    /// name `i - 1` ends.
    ends: Vec<u32>,
    /// `windows[k]` is the first name that ends in window `k + 1` or later (ascending).
    windows: Vec<u32>,
    table: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

/// Where name `i` ends in the arena (`i` must be a name).
fn end_at(ends: &[u32], windows: &[u32], i: usize) -> usize {
    let low = u64::from(ends.get(i).copied().unwrap_or(0));
    let window = if windows.is_empty() { 0 } else { windows.partition_point(|&w| w as usize <= i) as u64 };
    (window * WINDOW + low) as usize
}

/// The bytes of name `i` in the arena, "" for no such name.
fn name_at<'a>(arena: &'a str, ends: &[u32], windows: &[u32], i: usize) -> &'a str {
    if i >= ends.len() {
        return "";
    }
    let start = if i == 0 { 0 } else { end_at(ends, windows, i - 1) };
    arena.get(start..end_at(ends, windows, i)).unwrap_or("")
}

impl Interner {
    /// Number of names.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no name was interned.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The name with this id.
    pub fn name(&self, id: u32) -> &str {
        name_at(&self.arena, &self.ends, &self.windows, id as usize)
    }

    /// The id of a name, if interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        self.table.find(hash, |&id| self.name(id) == name).copied()
    }

    /// The id of a name, interning it when new; the flag says whether it was new.
    pub fn intern(&mut self, name: &str) -> (u32, bool) {
        let hash = self.hasher.hash_one(name);
        if let Some(&id) = self.table.find(hash, |&id| self.name(id) == name) {
            return (id, false);
        }
        let id = self.ends.len() as u32;
        self.arena.push_str(name);
        let end = self.arena.len() as u64;
        while (self.windows.len() as u64) < end / WINDOW {
            self.windows.push(id);
        }
        self.ends.push((end % WINDOW) as u32);
        let Self { table, hasher, arena, ends, windows } = self;
        table.insert_unique(hash, id, |&other| hasher.hash_one(name_at(arena, ends, windows, other as usize)));
        (id, true)
    }

    /// All names with their ids, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &str)> {
        (0..self.ends.len() as u32).map(|id| (id, self.name(id)))
    }

    /// Makes room for `names` more names without growing (and rehashing every name) on the way.
    pub fn reserve(&mut self, names: usize) {
        self.ends.reserve(names);
        let Self { table, hasher, arena, ends, windows } = self;
        table.reserve(names, |&id| hasher.hash_one(name_at(arena, ends, windows, id as usize)));
    }

    /// Returns spare capacity after a bulk load (the table only when a smaller one would do).
    pub fn shrink(&mut self) {
        self.arena.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.windows.shrink_to_fit();
        let Self { table, hasher, arena, ends, windows } = self;
        table.shrink_to(ends.len(), |&id| hasher.hash_one(name_at(arena, ends, windows, id as usize)));
    }

    /// Bytes held, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + (self.ends.capacity() + self.windows.capacity()) * 4 + self.table.capacity() * 5
    }
}

impl serde::Serialize for Interner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(&self.arena, &self.ends, &self.windows), s)
    }
}

impl<'de> serde::Deserialize<'de> for Interner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (arena, ends, windows): (String, Vec<u32>, Vec<u32>) = serde::Deserialize::deserialize(d)?;
        let ascending = windows.windows(2).all(|w| w[0] <= w[1]);
        let in_arena = windows.len() as u64 <= arena.len() as u64 / WINDOW;
        if !ascending || !in_arena || windows.last().is_some_and(|&w| w as usize > ends.len()) {
            return Err(serde::de::Error::custom("interner windows are out of order"));
        }
        let mut start = 0;
        for i in 0..ends.len() {
            let end = end_at(&ends, &windows, i);
            if end < start || end > arena.len() || !arena.is_char_boundary(end) {
                return Err(serde::de::Error::custom("interner name ends are out of order"));
            }
            start = end;
        }
        let mut interner =
            Interner { arena, ends, windows, table: HashTable::with_capacity(0), hasher: Default::default() };
        let mut table = HashTable::with_capacity(interner.ends.len());
        for id in 0..interner.ends.len() as u32 {
            let hash = interner.hasher.hash_one(interner.name(id));
            table.insert_unique(hash, id, |&other| interner.hasher.hash_one(interner.name(other)));
        }
        interner.table = table;
        Ok(interner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_non_empty_bounded_and_free_of_control_characters() {
        assert!(check_name("component", "component", "train").is_ok());
        assert!(check_name("component", "component", "träin/模型").is_ok());
        assert!(check_name("component", "component", "").is_err());
        assert!(check_name("component", "component", &"x".repeat(1025)).is_err());
        assert!(check_name("component", "component", &"x".repeat(1024)).is_ok());
        assert!(check_name("component", "component", "a\nb").is_err());
        assert!(check_name("component", "component", "a\u{7f}b").is_err());
    }

    #[test]
    fn the_ascii_fast_path_finds_the_control_characters_the_char_check_finds() {
        for c in (0u32..0x250).filter_map(char::from_u32) {
            let name = format!("s3://bucket/{c}/part.parquet");
            assert_eq!(has_control(&name), c.is_control(), "U+{:04X}", c as u32);
            let lazy = check_name_lazy(|| "outputs[0].name".into(), "output", &name);
            assert_eq!(lazy.is_err(), c.is_control(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn interner_round_trips() {
        let mut i = Interner::default();
        assert_eq!(i.intern("a"), (0, true));
        assert_eq!(i.intern("bb"), (1, true));
        assert_eq!(i.intern("a"), (0, false));
        assert_eq!(i.name(1), "bb");
        assert_eq!(i.get("bb"), Some(1));
        assert_eq!(i.get("c"), None);
        for n in 0..1000 {
            i.intern(&format!("name-{n}"));
        }
        assert_eq!(i.get("name-999"), Some(1001));
        assert_eq!(i.name(1001), "name-999");
    }

    #[test]
    fn names_past_a_window_of_the_arena_keep_their_bytes_and_ids() {
        // Unit tests use 1 KiB windows (4 GiB otherwise): names of 1 to 1300 bytes cross many,
        // some with names longer than a window, some ending exactly on a window's edge.
        let names: Vec<String> = (0..400usize).map(|n| format!("{n:04}-{}", "x".repeat(n * 7 % 1300))).collect();
        let mut i = Interner::default();
        for (id, name) in names.iter().enumerate() {
            assert_eq!(i.intern(name), (id as u32, true));
        }
        assert!(i.windows.len() as u64 > 100, "the names crossed only {} windows", i.windows.len());
        let check = |i: &Interner| {
            for (id, name) in names.iter().enumerate() {
                assert_eq!(i.name(id as u32), name);
                assert_eq!(i.get(name), Some(id as u32));
            }
            assert_eq!(i.name(names.len() as u32), "");
        };
        check(&i);
        for (id, name) in names.iter().enumerate() {
            assert_eq!(i.intern(name), (id as u32, false));
        }
        let saved = serde_json::to_string(&i).unwrap();
        let loaded: Interner = serde_json::from_str(&saved).unwrap();
        check(&loaded);
    }

    #[test]
    fn a_saved_interner_with_windows_out_of_order_does_not_load() {
        let mut i = Interner::default();
        for n in 0..50 {
            i.intern(&format!("{n}-{}", "y".repeat(100)));
        }
        let mut saved: (String, Vec<u32>, Vec<u32>) =
            serde_json::from_str(&serde_json::to_string(&i).unwrap()).unwrap();
        assert!(serde_json::from_str::<Interner>(&serde_json::to_string(&saved).unwrap()).is_ok());
        saved.2.swap(0, 1);
        assert!(serde_json::from_str::<Interner>(&serde_json::to_string(&saved).unwrap()).is_err());
        saved.2.swap(0, 1);
        saved.2.pop();
        assert!(serde_json::from_str::<Interner>(&serde_json::to_string(&saved).unwrap()).is_err());
    }
}
