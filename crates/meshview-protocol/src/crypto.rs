//! Channel (PSK) decryption of MeshPacket payloads.

use crate::keys::{ChannelKey, Keyring};
use crate::pb;
use crate::pb::mesh_packet::PayloadVariant;
use ctr::cipher::{KeyIvInit, StreamCipher};
use prost::Message;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The firmware's AES-CTR initial counter block: packet id then sender, each as
/// a little-endian u64 (the sender's upper half is the zero "extra nonce" of
/// channel encryption).
fn nonce(packet_id: u32, from: u32) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..8].copy_from_slice(&u64::from(packet_id).to_le_bytes());
    iv[8..].copy_from_slice(&u64::from(from).to_le_bytes());
    iv
}

/// Decrypts (or, CTR being symmetric, encrypts) `data` with `key`.
/// A plaintext-channel key returns the bytes unchanged.
pub fn apply_channel_cipher(key: &ChannelKey, packet_id: u32, from: u32, data: &[u8]) -> Vec<u8> {
    let mut buf = data.to_vec();
    let iv = nonce(packet_id, from);
    match key {
        ChannelKey::Plaintext => {}
        ChannelKey::Aes128(k) => Aes128Ctr::new(k.into(), &iv.into()).apply_keystream(&mut buf),
        ChannelKey::Aes256(k) => Aes256Ctr::new(k.into(), &iv.into()).apply_keystream(&mut buf),
    }
    buf
}

/// The result of [`decrypt_packet`].
#[derive(Clone, Debug, PartialEq)]
pub enum DecryptOutcome {
    /// The packet already carried `decoded` (gateway-decoded or map report).
    AlreadyDecoded,
    /// Keyring entry `key_index` produced a plausible `Data`.
    Decrypted { key_index: usize, data: pb::Data },
    /// PKI-encrypted, no payload at all, or no key produced a plausible `Data`.
    Undecryptable,
}

/// Accepts a decryption only if it is a well-formed `Data` whose port is a real,
/// non-zero `PortNum`: a wrong key yields noise, which almost never passes both.
fn plausible_data(plain: &[u8]) -> Option<pb::Data> {
    let data = pb::Data::decode(plain).ok()?;
    let known = pb::PortNum::try_from(data.portnum).is_ok();
    (known && data.portnum != 0).then_some(data)
}

/// Decrypts `packet`'s `encrypted` payload with the keyring.
///
/// Keys whose channel hash (for `channel_name`, the envelope's channel id)
/// equals `packet.channel` are tried first, then the others, so a mislabelled
/// channel name costs time but not correctness.
pub fn decrypt_packet(
    packet: &pb::MeshPacket,
    channel_name: &str,
    keyring: &Keyring,
) -> DecryptOutcome {
    let ciphertext = match &packet.payload_variant {
        Some(PayloadVariant::Decoded(_)) => return DecryptOutcome::AlreadyDecoded,
        Some(PayloadVariant::Encrypted(c)) if !packet.pki_encrypted => c,
        // PKI packets need the recipient's private key, which we never have.
        _ => return DecryptOutcome::Undecryptable,
    };
    let hash_matches = |k: &ChannelKey| u32::from(k.channel_hash(channel_name)) == packet.channel;
    let keys = keyring.keys().iter().enumerate();
    let ordered = keys
        .clone()
        .filter(|(_, k)| hash_matches(k))
        .chain(keys.filter(|(_, k)| !hash_matches(k)));
    for (key_index, key) in ordered {
        let plain = apply_channel_cipher(key, packet.id, packet.from, ciphertext);
        if let Some(data) = plausible_data(&plain) {
            return DecryptOutcome::Decrypted { key_index, data };
        }
    }
    DecryptOutcome::Undecryptable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypted_packet(key: &ChannelKey, data: &pb::Data, channel: u32) -> pb::MeshPacket {
        let (id, from) = (0x1234_5678, 0xa1b2_c3d4);
        let ct = apply_channel_cipher(key, id, from, &data.encode_to_vec());
        pb::MeshPacket {
            from,
            to: 0xffff_ffff,
            id,
            channel,
            payload_variant: Some(PayloadVariant::Encrypted(ct)),
            ..Default::default()
        }
    }

    fn text_data() -> pb::Data {
        pb::Data {
            portnum: pb::PortNum::TextMessageApp as i32,
            payload: b"hello mesh".to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn nonce_layout() {
        let iv = nonce(0x0403_0201, 0x0807_0605);
        assert_eq!(iv, [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0]);
    }

    #[test]
    fn round_trips_with_every_key_kind() {
        let secondary = ChannelKey::Aes256([9; 32]);
        let mut ring = Keyring::new();
        ring.push(ChannelKey::Aes128([3; 16]));
        ring.push(secondary.clone());
        ring.push(ChannelKey::Plaintext);
        for (idx, key) in ring.keys().iter().enumerate() {
            let p = encrypted_packet(key, &text_data(), u32::from(key.channel_hash("Chan")));
            assert_eq!(
                decrypt_packet(&p, "Chan", &ring),
                DecryptOutcome::Decrypted {
                    key_index: idx,
                    data: text_data()
                }
            );
            // A wrong channel name only changes the trial order.
            assert!(matches!(
                decrypt_packet(&p, "Other", &ring),
                DecryptOutcome::Decrypted { key_index, .. } if key_index == idx
            ));
        }
    }

    #[test]
    fn unknown_key_is_undecryptable() {
        let p = encrypted_packet(&ChannelKey::Aes128([0x55; 16]), &text_data(), 8);
        assert_eq!(
            decrypt_packet(&p, "LongFast", &Keyring::new()),
            DecryptOutcome::Undecryptable
        );
    }

    #[test]
    fn pki_and_decoded_and_empty() {
        let mut p = encrypted_packet(&ChannelKey::default_psk(), &text_data(), 8);
        p.pki_encrypted = true;
        assert_eq!(
            decrypt_packet(&p, "LongFast", &Keyring::new()),
            DecryptOutcome::Undecryptable
        );
        p.payload_variant = Some(PayloadVariant::Decoded(text_data()));
        assert_eq!(
            decrypt_packet(&p, "LongFast", &Keyring::new()),
            DecryptOutcome::AlreadyDecoded
        );
        p.payload_variant = None;
        assert_eq!(
            decrypt_packet(&p, "LongFast", &Keyring::new()),
            DecryptOutcome::Undecryptable
        );
    }

    #[test]
    fn rejects_port_zero_and_unknown_ports() {
        for portnum in [0, 9999] {
            let d = pb::Data {
                portnum,
                ..text_data()
            };
            let p = encrypted_packet(&ChannelKey::default_psk(), &d, 8);
            assert_eq!(
                decrypt_packet(&p, "LongFast", &Keyring::new()),
                DecryptOutcome::Undecryptable
            );
        }
    }
}
