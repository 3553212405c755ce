//! Channel keys: the default PSK, configured secondary keys, and channel hashes.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::fmt;

/// The firmware's default channel PSK (`1PG7OiApB1nwvP+rz05pAQ==`, shorthand index 1).
pub const DEFAULT_PSK: [u8; 16] = [
    0xd4, 0xf1, 0xbb, 0x3a, 0x20, 0x29, 0x07, 0x59, 0xf0, 0xbc, 0xff, 0xab, 0xcf, 0x4e, 0x69, 0x01,
];

/// One channel key, already expanded from any firmware shorthand.
#[derive(Clone, PartialEq, Eq)]
pub enum ChannelKey {
    /// Shorthand index 0: the channel is not encrypted; the "ciphertext" is the plaintext.
    Plaintext,
    Aes128([u8; 16]),
    Aes256([u8; 32]),
}

// Keys are secrets: keep them out of logs and panic messages.
impl fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelKey::Plaintext => f.write_str("Plaintext"),
            ChannelKey::Aes128(_) => f.write_str("Aes128(..)"),
            ChannelKey::Aes256(_) => f.write_str("Aes256(..)"),
        }
    }
}

impl ChannelKey {
    /// The default channel key.
    pub const fn default_psk() -> ChannelKey {
        ChannelKey::Aes128(DEFAULT_PSK)
    }

    /// Builds a key from raw PSK bytes the way the firmware does: 16 or 32 bytes are
    /// used as is; one byte is a shorthand index (0 = no encryption, n ≥ 1 = the
    /// default key with its last byte increased by n − 1, wrapping like the
    /// firmware's `uint8_t` arithmetic; apps expose n = 1..=10).
    /// Returns `None` for any other length.
    pub fn from_psk(psk: &[u8]) -> Option<ChannelKey> {
        match psk.len() {
            1 if psk[0] == 0 => Some(ChannelKey::Plaintext),
            1 => {
                let mut k = DEFAULT_PSK;
                k[15] = k[15].wrapping_add(psk[0] - 1);
                Some(ChannelKey::Aes128(k))
            }
            16 => psk.try_into().ok().map(ChannelKey::Aes128),
            32 => psk.try_into().ok().map(ChannelKey::Aes256),
            _ => None,
        }
    }

    /// The expanded key bytes (empty for a plaintext channel).
    pub fn bytes(&self) -> &[u8] {
        match self {
            ChannelKey::Plaintext => &[],
            ChannelKey::Aes128(k) => k,
            ChannelKey::Aes256(k) => k,
        }
    }

    /// A stable identity of the key that does not reveal it: the first 8 bytes of
    /// SHA-256 over a fixed label and the expanded key bytes, in hex. What the database
    /// remembers of the configured keys.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"meshview channel key\0");
        match self {
            // Distinct from every AES key (which are never empty).
            ChannelKey::Plaintext => h.update(b"plaintext"),
            k => h.update(k.bytes()),
        }
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The firmware's one-byte channel hash for this key and `channel_name`.
    pub fn channel_hash(&self, channel_name: &str) -> u8 {
        channel_hash(channel_name, self.bytes())
    }
}

/// The firmware's channel hash: xor of the name bytes, xor'ed with xor of the
/// expanded key bytes. Radios put it in `MeshPacket.channel` of encrypted packets.
pub fn channel_hash(channel_name: &str, key: &[u8]) -> u8 {
    let xor = |bytes: &[u8]| bytes.iter().fold(0u8, |acc, b| acc ^ b);
    xor(channel_name.as_bytes()) ^ xor(key)
}

/// A bad entry in the configured key list. Reported at start-up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("channel key {key:?} is not valid base64: {reason}")]
    NotBase64 { key: String, reason: String },
    #[error(
        "channel key {key:?} decodes to {len} bytes; expected 16 or 32 (AES-128/256) or 1 (shorthand PSK index)"
    )]
    BadLength { key: String, len: usize },
}

/// The keys to try when decrypting, in order. Index 0 is always the default key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<ChannelKey>,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring {
            keys: vec![ChannelKey::default_psk()],
        }
    }
}

impl Keyring {
    /// A keyring holding only the default key.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// The default key followed by the secondary keys in `config` (see [`parse_keys`]).
    pub fn with_secondary(config: &str) -> Result<Keyring, KeyError> {
        let mut ring = Keyring::new();
        ring.keys.extend(parse_keys(config)?);
        Ok(ring)
    }

    /// Appends a key; its index is the previous [`len`](Self::len).
    pub fn push(&mut self, key: ChannelKey) {
        self.keys.push(key);
    }

    pub fn keys(&self) -> &[ChannelKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Parses a comma-separated list of base64 PSKs. Each entry may be wrapped in
/// whitespace and single or double quotes (config files vary); empty entries
/// are skipped so a trailing comma is harmless.
pub fn parse_keys(config: &str) -> Result<Vec<ChannelKey>, KeyError> {
    // Padding is optional in hand-written config; URL-safe alphabet appears in
    // keys copied out of channel URLs.
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg);

    let mut keys = Vec::new();
    for raw in config.split(',') {
        let entry = raw.trim().trim_matches(['"', '\'']).trim();
        if entry.is_empty() {
            continue;
        }
        let bytes = standard
            .decode(entry)
            .or_else(|e| url_safe.decode(entry).map_err(|_| e))
            .map_err(|e| KeyError::NotBase64 {
                key: entry.to_owned(),
                reason: e.to_string(),
            })?;
        let key = ChannelKey::from_psk(&bytes).ok_or_else(|| KeyError::BadLength {
            key: entry.to_owned(),
            len: bytes.len(),
        })?;
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_keys_apart_without_showing_them() {
        let default = ChannelKey::default_psk().fingerprint();
        assert_eq!(default.len(), 16);
        // Shorthand index 1 is the default key: the same fingerprint.
        assert_eq!(ChannelKey::from_psk(&[1]).unwrap().fingerprint(), default);
        let other = ChannelKey::from_psk(&[2]).unwrap().fingerprint();
        assert_ne!(other, default);
        assert_ne!(ChannelKey::Plaintext.fingerprint(), default);
        assert!(!default.contains(&hex_of(&DEFAULT_PSK)[..8]));
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn default_key_matches_base64() {
        let keys = parse_keys("1PG7OiApB1nwvP+rz05pAQ==").unwrap();
        assert_eq!(keys, vec![ChannelKey::default_psk()]);
        assert_eq!(parse_keys("AQ==").unwrap(), vec![ChannelKey::default_psk()]);
    }

    #[test]
    fn longfast_default_hash_is_8() {
        assert_eq!(ChannelKey::default_psk().channel_hash("LongFast"), 8);
        assert_eq!(channel_hash("LongFast", &DEFAULT_PSK), 8);
    }

    #[test]
    fn shorthand_expansion() {
        assert_eq!(ChannelKey::from_psk(&[0]), Some(ChannelKey::Plaintext));
        let mut k = DEFAULT_PSK;
        k[15] = 0x0a;
        assert_eq!(ChannelKey::from_psk(&[10]), Some(ChannelKey::Aes128(k)));
        k[15] = 0x01u8.wrapping_add(254);
        assert_eq!(ChannelKey::from_psk(&[255]), Some(ChannelKey::Aes128(k)));
        assert_eq!(ChannelKey::Plaintext.channel_hash("ab"), b'a' ^ b'b');
    }

    #[test]
    fn parses_lists_with_quotes_and_whitespace() {
        let k32 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let cfg = format!(" 'AQ==' , \"{k32}\",AA,, AAAAAAAAAAAAAAAAAAAAAA ,");
        let keys = parse_keys(&cfg).unwrap();
        assert_eq!(
            keys,
            vec![
                ChannelKey::default_psk(),
                ChannelKey::Aes256([7; 32]),
                ChannelKey::Plaintext,
                ChannelKey::Aes128([0; 16]),
            ]
        );
        assert!(parse_keys("").unwrap().is_empty());
        assert!(parse_keys("  ,  ").unwrap().is_empty());
        let ring = Keyring::with_secondary("AQ").unwrap();
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn reports_bad_keys() {
        let err = parse_keys("AQ==, AAAA").unwrap_err();
        assert_eq!(
            err,
            KeyError::BadLength {
                key: "AAAA".into(),
                len: 3
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("\"AAAA\"") && msg.contains("3 bytes"), "{msg}");
        assert!(matches!(
            parse_keys("not*base64"),
            Err(KeyError::NotBase64 { .. })
        ));
        assert!(matches!(
            parse_keys("''"),
            Ok(v) if v.is_empty()
        ));
    }

    #[test]
    fn debug_hides_key_material() {
        let s = format!("{:?}", Keyring::new());
        assert!(!s.contains("212"), "{s}");
    }
}
