//! Object ids.
//!
//! A trace names objects with strings (`"f1"`, `"c7"`, `"p12"`), unique per
//! kind. The checker never needs the string: it needs equality. So every id is
//! a 64-bit value: readers hash the name ([`name_hash`]), and a reactor that
//! creates the objects itself (the mock reactor) simply numbers them.
//!
//! Hashing keeps the checker's memory at a few bytes per id ever seen, however
//! long the names are. The cost is a collision bound: with `n` distinct names
//! of one kind, the chance that two share a hash is at most `n² / 2^65`
//! (about 3·10⁻⁶ for ten million names). The hash is not cryptographic, so a
//! file crafted to collide can make the checker confuse two objects; it cannot
//! make it use more memory or panic.

use std::fmt;

/// The stable 64-bit hash of an id's name: FNV-1a over the UTF-8 bytes,
/// finished with the SplitMix64 mixer so that names differing in one digit
/// land far apart.
///
/// The value is part of no file format, but it is stable across platforms and
/// releases, so a checker run is reproducible.
///
/// ```
/// use callorder_trace::name_hash;
/// assert_eq!(name_hash("p1"), name_hash("p1"));
/// assert_ne!(name_hash("p1"), name_hash("p2"));
/// ```
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // SplitMix64 finaliser.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The bit set on every hashed id that [`numbered_id`] gives, so that it
/// never equals a numbered one.
pub const HASHED_ID_BIT: u64 = 1 << 63;

/// The id of a name when ids are read as numbered
/// ([`TraceReader::numbered_ids`](crate::TraceReader::numbered_ids)): a
/// name that is `prefix` followed by a number in plain decimal (`"p17"`
/// for prefix `b'p'`: no sign, no leading zero, below 2^63) is that number,
/// as callorder's own reactors number their objects; any other name is its
/// [`name_hash`] with [`HASHED_ID_BIT`] set.
///
/// Twisted's recorder and callorder's reactors name objects this way (`f1`,
/// `c2`, `l1`, `p3`, counting per kind from 1), and numbers handed out in
/// order let the checker keep the ids of ended objects as ranges rather
/// than one by one. A number and a hash never meet: the hashed ids give up
/// one bit for it, so the collision bound of [`name_hash`] is `n² / 2^64`.
///
/// ```
/// use callorder_trace::{name_hash, numbered_id, HASHED_ID_BIT};
/// assert_eq!(numbered_id(b'p', "p17"), 17);
/// assert_eq!(numbered_id(b'p', "p0"), 0);
/// assert_eq!(numbered_id(b'p', "p017"), name_hash("p017") | HASHED_ID_BIT);
/// assert_eq!(numbered_id(b'c', "p17"), name_hash("p17") | HASHED_ID_BIT);
/// assert_eq!(numbered_id(b'p', "server"), name_hash("server") | HASHED_ID_BIT);
/// ```
#[inline]
pub fn numbered_id(prefix: u8, name: &str) -> u64 {
    match name.as_bytes() {
        [first, digits @ ..] if *first == prefix => match parse_plain_decimal(digits) {
            Some(n) => n,
            None => name_hash(name) | HASHED_ID_BIT,
        },
        _ => name_hash(name) | HASHED_ID_BIT,
    }
}

/// A number in plain decimal below [`HASHED_ID_BIT`]: digits only, and no
/// leading zero but in `0` itself, so that each number has one spelling.
#[inline]
fn parse_plain_decimal(digits: &[u8]) -> Option<u64> {
    match digits {
        [] => None,
        [b'0'] => Some(0),
        [b'0', ..] => None,
        // 19 digits hold every number below 2^63 (and some above).
        _ if digits.len() > 19 => None,
        _ => {
            let mut n: u64 = 0;
            for &d in digits {
                if !d.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + u64::from(d - b'0');
            }
            (n < HASHED_ID_BIT).then_some(n)
        }
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            /// The id a trace file's name stands for (its [`name_hash`]).
            pub fn from_name(name: &str) -> Self {
                Self(name_hash(name))
            }

            /// The id a trace file's name stands for when ids are read as
            /// numbered ([`numbered_id`] with this kind's prefix): `"
            #[doc = $prefix]
            /// 7"` is 7.
            pub fn from_numbered_name(name: &str) -> Self {
                Self(numbered_id($prefix.as_bytes()[0], name))
            }

            /// The prefix callorder's own reactors use when they name this
            /// kind of object in a trace (`"
            #[doc = $prefix]
            /// "` followed by the number).
            pub const PREFIX: &'static str = $prefix;
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl From<u64> for $name {
            fn from(n: u64) -> $name {
                $name(n)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{:x}", $prefix, self.0)
            }
        }
    };
}

id_type!(
    /// A factory: the object that builds protocols and is started and stopped
    /// by the connectors and ports that use it.
    FactoryId,
    "f"
);
id_type!(
    /// A connector: one outgoing connection request (`connect_tcp`), which may
    /// connect several times (`connect` to retry).
    ConnectorId,
    "c"
);
id_type!(
    /// A listening port (`listen_tcp`).
    PortId,
    "l"
);
id_type!(
    /// A protocol: the object that lives for exactly one connection.
    ProtocolId,
    "p"
);

/// Who started or stopped a factory, or asked it for a protocol: a connector
/// or a port.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Holder {
    /// A client connector.
    Connector(ConnectorId),
    /// A listening port.
    Port(PortId),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name_hash("p1")` as first released.
    const PINNED_P1: u64 = 0x5b05_0ef5_7e3b_95bc;

    #[test]
    fn hashes_are_stable_across_releases() {
        // Pinned: if this changes, reproducibility of earlier runs is lost.
        assert_eq!(name_hash("p1"), PINNED_P1);
    }

    #[test]
    fn numbered_names_are_their_numbers_and_others_are_marked_hashes() {
        assert_eq!(ProtocolId::from_numbered_name("p1"), ProtocolId(1));
        assert_eq!(ConnectorId::from_numbered_name("c42"), ConnectorId(42));
        assert_eq!(PortId::from_numbered_name("l7"), PortId(7));
        assert_eq!(FactoryId::from_numbered_name("f3"), FactoryId(3));
        let largest = (HASHED_ID_BIT - 1).to_string();
        assert_eq!(numbered_id(b'p', &format!("p{largest}")), HASHED_ID_BIT - 1);
        // Not plain decimal, too large, or another kind's prefix: hashed.
        let too_large = HASHED_ID_BIT.to_string();
        for name in ["p", "p01", "p1x", "p-1", "p+1", "c1", "P1", "p 1", "p١"] {
            assert_eq!(
                numbered_id(b'p', name),
                name_hash(name) | HASHED_ID_BIT,
                "{name}"
            );
        }
        let name = format!("p{too_large}");
        assert_eq!(numbered_id(b'p', &name), name_hash(&name) | HASHED_ID_BIT);
        let name = format!("p{}", u64::MAX);
        assert_eq!(numbered_id(b'p', &name), name_hash(&name) | HASHED_ID_BIT);
        let name = format!("p1{}", u64::MAX);
        assert_eq!(numbered_id(b'p', &name), name_hash(&name) | HASHED_ID_BIT);
    }

    #[test]
    fn a_million_sequential_names_do_not_collide() {
        let mut seen: Vec<u64> = (0..1_000_000)
            .map(|i| name_hash(&format!("p{i}")))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 1_000_000);
    }
}
