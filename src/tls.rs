//! Process-wide TLS set-up shared by the MQTT client and the web server.

/// rustls needs one process-wide crypto provider; ring is the one already linked.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
