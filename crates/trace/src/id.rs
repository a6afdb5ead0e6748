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
    fn a_million_sequential_names_do_not_collide() {
        let mut seen: Vec<u64> = (0..1_000_000)
            .map(|i| name_hash(&format!("p{i}")))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 1_000_000);
    }
}
