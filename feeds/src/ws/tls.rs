//! rustls client configurations for `wss://`, always on the ring provider (the workspace
//! does not build aws-lc).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

/// A TLS client config that trusts exactly `roots` (TLS 1.2 and 1.3, ring crypto, no client
/// certificate). Use it for test servers with self-signed certificates or private CAs.
pub fn tls_config_with_roots(roots: RootCertStore) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // ring supports both default protocol versions; this cannot fail with it.
        .expect("ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// The default: the Mozilla root programme's CAs as bundled by `webpki-roots`.
pub(super) fn default_tls_config() -> Arc<ClientConfig> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    tls_config_with_roots(roots)
}

/// Fills `out` from the config's secure random source, falling back to the clock if the
/// OS refuses (the bytes seed handshake nonces and mask keys, which need no secrecy).
pub(super) fn random_bytes(config: &ClientConfig, out: &mut [u8]) {
    let provider: &CryptoProvider = config.crypto_provider();
    if provider.secure_random.fill(out).is_err() {
        log::debug!("secure random unavailable; seeding websocket nonces from the clock");
        let mut x = crate::clock::wall_us() as u64 ^ crate::clock::mono_ns().rotate_left(32) | 1;
        for b in out.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}
