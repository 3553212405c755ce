//! Meshtastic node numbers and their textual forms.

use std::fmt;
use std::str::FromStr;

/// A Meshtastic node number (the 32-bit `from`/`to` of a packet).
///
/// Displays in the firmware's canonical `!xxxxxxxx` form (lowercase, 8 digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The broadcast address (`!ffffffff`).
    pub const BROADCAST: NodeId = NodeId(0xFFFF_FFFF);

    /// The raw node number.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// Whether this is the broadcast address.
    pub const fn is_broadcast(self) -> bool {
        self.0 == Self::BROADCAST.0
    }

    /// Parses only the `!hex` form, which is what gateways and topics use.
    pub fn parse_bang(s: &str) -> Result<NodeId, NodeIdError> {
        match s.strip_prefix('!') {
            Some(hex) => parse_hex(s, hex),
            None if s.is_empty() => Err(NodeIdError::Empty),
            None => Err(NodeIdError::Malformed(s.to_owned())),
        }
    }
}

/// Why a string is not a node id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    #[error("empty node id")]
    Empty,
    #[error("malformed node id {0:?}: expected decimal, 0x-prefixed hex or !-prefixed hex")]
    Malformed(String),
    #[error("node id {0:?} does not fit in 32 bits")]
    OutOfRange(String),
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    /// Accepts decimal (`2712847316`), `0x` hex (`0xa1b2c3d4`) and `!` hex (`!a1b2c3d4`).
    /// Signs, whitespace and empty digit strings are rejected rather than guessed at.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NodeIdError::Empty);
        }
        if let Some(hex) = s.strip_prefix('!') {
            return parse_hex(s, hex);
        }
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            return parse_hex(s, hex);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NodeIdError::Malformed(s.to_owned()));
        }
        // All digits, so the only possible failure is overflow.
        s.parse::<u32>()
            .map(NodeId)
            .map_err(|_| NodeIdError::OutOfRange(s.to_owned()))
    }
}

/// `whole` is the original input, kept for error messages.
fn parse_hex(whole: &str, hex: &str) -> Result<NodeId, NodeIdError> {
    // from_str_radix would accept a leading '+', so validate the digits first.
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NodeIdError::Malformed(whole.to_owned()));
    }
    if hex.len() > 8 {
        return Err(NodeIdError::OutOfRange(whole.to_owned()));
    }
    u32::from_str_radix(hex, 16)
        .map(NodeId)
        .map_err(|_| NodeIdError::Malformed(whole.to_owned()))
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "!{:08x}", self.0)
    }
}

impl From<u32> for NodeId {
    fn from(v: u32) -> Self {
        NodeId(v)
    }
}

impl From<NodeId> for u32 {
    fn from(v: NodeId) -> Self {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<NodeId, NodeIdError> {
        s.parse()
    }

    #[test]
    fn parses_all_forms() {
        assert_eq!(p("!a1b2c3d4"), Ok(NodeId(0xa1b2c3d4)));
        assert_eq!(p("!A1B2C3D4"), Ok(NodeId(0xa1b2c3d4)));
        assert_eq!(p("0xa1b2c3d4"), Ok(NodeId(0xa1b2c3d4)));
        assert_eq!(p("0XFF"), Ok(NodeId(0xff)));
        assert_eq!(p("2712847316"), Ok(NodeId(2712847316)));
        assert_eq!(p("!1"), Ok(NodeId(1)));
        assert_eq!(p("0"), Ok(NodeId(0)));
        assert_eq!(p("4294967295"), Ok(NodeId::BROADCAST));
        assert_eq!(p("!ffffffff"), Ok(NodeId::BROADCAST));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(p(""), Err(NodeIdError::Empty));
        assert!(matches!(p("!"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("0x"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("!zz"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("!+1"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("-1"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("+1"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p(" 1"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("1.5"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("!é"), Err(NodeIdError::Malformed(_))));
        assert!(matches!(p("!123456789"), Err(NodeIdError::OutOfRange(_))));
        assert!(matches!(p("0x100000000"), Err(NodeIdError::OutOfRange(_))));
        assert!(matches!(p("4294967296"), Err(NodeIdError::OutOfRange(_))));
        assert!(matches!(
            p("99999999999999999999999"),
            Err(NodeIdError::OutOfRange(_))
        ));
    }

    #[test]
    fn parse_bang_only_accepts_bang() {
        assert_eq!(NodeId::parse_bang("!0000abcd"), Ok(NodeId(0xabcd)));
        assert_eq!(NodeId::parse_bang(""), Err(NodeIdError::Empty));
        assert!(NodeId::parse_bang("1234").is_err());
        assert!(NodeId::parse_bang("0x12").is_err());
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(NodeId(0xa1b2c3d4).to_string(), "!a1b2c3d4");
        assert_eq!(NodeId(1).to_string(), "!00000001");
        assert_eq!(NodeId::BROADCAST.to_string(), "!ffffffff");
        assert!(NodeId::BROADCAST.is_broadcast());
        let n = NodeId(0x0badcafe);
        assert_eq!(p(&n.to_string()), Ok(n));
    }
}
