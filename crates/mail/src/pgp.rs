//! OpenPGP for outgoing mail: the team signs every notification with its key; mail to
//! a recipient whose public key is on file is encrypted to it as well (RFC 3156,
//! PGP/MIME, sign then encrypt).

use pgp::composed::{
    ArmorOptions, Deserializable, DetachedSignature, MessageBuilder, SignedPublicKey,
    SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::types::{KeyDetails, Password};

use crate::MailError;

/// The team's signing key.
#[derive(Clone)]
pub struct TeamKey {
    key: SignedSecretKey,
    passphrase: String,
}

impl std::fmt::Debug for TeamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

fn pgp_err(what: &str, e: impl std::fmt::Display) -> MailError {
    MailError::Pgp(format!("{what}: {e}"))
}

impl TeamKey {
    /// Reads an armored or binary secret key; `passphrase` unlocks it if it is protected.
    pub fn parse(data: &[u8], passphrase: &str) -> Result<TeamKey, MailError> {
        let (key, _) = SignedSecretKey::from_reader_single(data)
            .map_err(|e| pgp_err("reading the team's secret key", e))?;
        key.verify_bindings()
            .map_err(|e| pgp_err("the team's secret key does not verify", e))?;
        let team = TeamKey {
            key,
            passphrase: passphrase.to_string(),
        };
        // Fail at start, not at the first notification.
        team.sign_detached(b"check")?;
        Ok(team)
    }

    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.fingerprint().as_bytes())
    }

    /// The public half, armored, for the team's contact page.
    pub fn public_armored(&self) -> Result<String, MailError> {
        SignedPublicKey::from(self.key.clone())
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| pgp_err("armoring the public key", e))
    }

    /// Opens a message encrypted to the team (a reply sent to us encrypted).
    pub fn decrypt(&self, armored: &str) -> Result<Vec<u8>, MailError> {
        decrypt_with(&self.key, &self.passphrase, armored)
    }

    /// A detached, armored signature over `data` (binary mode: the bytes as given).
    pub fn sign_detached(&self, data: &[u8]) -> Result<String, MailError> {
        let password = Password::from(self.passphrase.as_str());
        let rng = rand08::thread_rng();
        // A signing-capable subkey if the key has one, else the primary key.
        let signed = match self
            .key
            .secret_subkeys
            .iter()
            .find(|s| s.signatures.iter().any(|sig| sig.key_flags().sign()))
        {
            Some(sub) => DetachedSignature::sign_binary_data(
                rng,
                &sub.key,
                &password,
                HashAlgorithm::Sha256,
                data,
            ),
            None => DetachedSignature::sign_binary_data(
                rng,
                &self.key.primary_key,
                &password,
                HashAlgorithm::Sha256,
                data,
            ),
        }
        .map_err(|e| pgp_err("signing", e))?;
        signed
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| pgp_err("armoring the signature", e))
    }
}

/// A recipient's public key, checked.
pub fn parse_public_key(armored: &str) -> Result<SignedPublicKey, MailError> {
    let (key, _) = SignedPublicKey::from_reader_single(armored.as_bytes())
        .map_err(|e| pgp_err("reading the recipient's key", e))?;
    key.verify_bindings()
        .map_err(|e| pgp_err("the recipient's key does not verify", e))?;
    Ok(key)
}

/// What a coordinator needs to know of a contact's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub fingerprint: String,
    /// Unix seconds; `None` when the key never expires.
    pub expires_at: Option<i64>,
}

/// Reads an armored public key: its fingerprint and when it expires (creation time
/// plus the longest expiration its self-signatures give).
pub fn key_facts(armored: &str) -> Result<KeyFacts, MailError> {
    let key = parse_public_key(armored)?;
    let created = i64::from(key.primary_key.created_at().as_secs());
    let mut longest: Option<u64> = None;
    let signatures = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter());
    for sig in signatures {
        match sig.key_expiration_time() {
            // Zero means "never", which outlives any duration.
            Some(d) if d.as_secs() == 0 => longest = Some(u64::MAX),
            Some(d) => {
                let secs = u64::from(d.as_secs());
                longest = Some(longest.map_or(secs, |l| l.max(secs)));
            }
            None => {
                return Ok(KeyFacts {
                    fingerprint: hex::encode_upper(key.fingerprint().as_bytes()),
                    expires_at: None,
                });
            }
        }
    }
    Ok(KeyFacts {
        fingerprint: hex::encode_upper(key.fingerprint().as_bytes()),
        expires_at: longest
            .filter(|l| *l != u64::MAX)
            .map(|l| created + l as i64),
    })
}

/// Encrypts `data` to the key's encryption subkeys (or its primary key if that can
/// encrypt); armored.
pub fn encrypt(key: &SignedPublicKey, data: &[u8]) -> Result<String, MailError> {
    encrypt_to_all(std::slice::from_ref(key), data)
}

/// Encrypts `data` once, readable with any of the keys (a mail to several
/// recipients, each with a key on file); armored.
pub fn encrypt_to_all(keys: &[SignedPublicKey], data: &[u8]) -> Result<String, MailError> {
    let mut builder = MessageBuilder::from_bytes("", data.to_vec())
        .seipd_v1(rand08::thread_rng(), SymmetricKeyAlgorithm::AES256);
    for key in keys {
        add_recipient(&mut builder, key)?;
    }
    builder
        .to_armored_string(rand08::thread_rng(), ArmorOptions::default())
        .map_err(|e| pgp_err("armoring the encrypted message", e))
}

fn add_recipient<R: std::io::Read>(
    builder: &mut MessageBuilder<'_, R, pgp::composed::EncryptionSeipdV1>,
    key: &SignedPublicKey,
) -> Result<(), MailError> {
    let mut recipients = 0;
    for sub in &key.public_subkeys {
        let flags_say = sub.signatures.iter().any(|s| {
            let f = s.key_flags();
            f.encrypt_comms() || f.encrypt_storage()
        });
        if flags_say && sub.key.algorithm().can_encrypt() {
            builder
                .encrypt_to_key(rand08::thread_rng(), &sub.key)
                .map_err(|e| pgp_err("encrypting", e))?;
            recipients += 1;
        }
    }
    if recipients == 0 {
        if !key.primary_key.algorithm().can_encrypt() {
            return Err(MailError::Pgp(
                "the recipient's key has no key that can encrypt".into(),
            ));
        }
        builder
            .encrypt_to_key(rand08::thread_rng(), &key.primary_key)
            .map_err(|e| pgp_err("encrypting", e))?;
    }
    Ok(())
}

/// Checks an armored detached signature over `data` against an armored public key
/// (made by its primary key or any of its subkeys).
pub fn verify_detached(public: &str, data: &[u8], signature: &str) -> Result<(), MailError> {
    let key = parse_public_key(public)?;
    let (sig, _) = DetachedSignature::from_string(signature)
        .map_err(|e| pgp_err("reading the signature", e))?;
    let first = sig.verify(&key, data);
    if first.is_ok()
        || key
            .public_subkeys
            .iter()
            .any(|sub| sig.verify(sub, data).is_ok())
    {
        return Ok(());
    }
    first.map_err(|e| pgp_err("the signature does not verify", e))
}

/// Opens an armored encrypted message with an armored secret key.
pub fn decrypt(secret: &str, passphrase: &str, armored: &str) -> Result<Vec<u8>, MailError> {
    let (key, _) = SignedSecretKey::from_reader_single(secret.as_bytes())
        .map_err(|e| pgp_err("reading the secret key", e))?;
    decrypt_with(&key, passphrase, armored)
}

fn decrypt_with(
    key: &SignedSecretKey,
    passphrase: &str,
    armored: &str,
) -> Result<Vec<u8>, MailError> {
    let (msg, _) = pgp::composed::Message::from_string(armored)
        .map_err(|e| pgp_err("reading the message", e))?;
    let mut opened = msg
        .decrypt(&Password::from(passphrase), key)
        .map_err(|e| pgp_err("decrypting", e))?;
    if opened.is_compressed() {
        opened = opened
            .decompress()
            .map_err(|e| pgp_err("decompressing", e))?;
    }
    opened
        .as_data_vec()
        .map_err(|e| pgp_err("reading the decrypted data", e))
}

/// Makes a key pair (Ed25519 signing, Curve25519 encryption) for a team or a test.
pub fn generate(user_id: &str) -> Result<(String, String), MailError> {
    use pgp::composed::{EncryptionCaps, KeyType, SecretKeyParamsBuilder, SubkeyParamsBuilder};
    use pgp::crypto::ecc_curve::ECCCurve;
    let mut enc = SubkeyParamsBuilder::default();
    enc.key_type(KeyType::ECDH(ECCCurve::Curve25519Legacy))
        .can_sign(false)
        .can_encrypt(EncryptionCaps::All)
        .can_authenticate(false);
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .can_encrypt(EncryptionCaps::None)
        .primary_user_id(user_id.into())
        .subkeys(vec![enc.build().map_err(|e| pgp_err("key parameters", e))?]);
    let secret = params
        .build()
        .map_err(|e| pgp_err("key parameters", e))?
        .generate(rand08::thread_rng())
        .map_err(|e| pgp_err("generating a key", e))?;
    let public = SignedPublicKey::from(secret.clone());
    Ok((
        secret
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| pgp_err("armoring", e))?,
        public
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| pgp_err("armoring", e))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgp::composed::Message;

    #[test]
    fn a_signature_verifies_with_the_public_key_and_fails_on_changed_data() {
        let (secret, public) = generate("CSIRT <csirt@example.org>").unwrap();
        let team = TeamKey::parse(secret.as_bytes(), "").unwrap();
        let sig = team.sign_detached(b"hello\r\n").unwrap();
        let (sig, _) = DetachedSignature::from_string(&sig).unwrap();
        let public = parse_public_key(&public).unwrap();
        assert!(sig.verify(&public, b"hello\r\n").is_ok());
        assert!(sig.verify(&public, b"hellO\r\n").is_err());
    }

    #[test]
    fn an_encrypted_message_opens_only_with_the_recipients_key() {
        let (secret, public) = generate("ISP abuse <abuse@isp.example>").unwrap();
        let armored = encrypt(&parse_public_key(&public).unwrap(), b"secret list").unwrap();
        assert!(armored.starts_with("-----BEGIN PGP MESSAGE-----"));
        let (key, _) = SignedSecretKey::from_reader_single(secret.as_bytes()).unwrap();
        let (msg, _) = Message::from_string(&armored).unwrap();
        let mut opened = msg.decrypt(&Password::empty(), &key).unwrap();
        assert_eq!(opened.as_data_vec().unwrap(), b"secret list");
        let (other, _) = generate("someone else <x@y.example>").unwrap();
        let (other, _) = SignedSecretKey::from_reader_single(other.as_bytes()).unwrap();
        let (msg, _) = Message::from_string(&armored).unwrap();
        assert!(msg.decrypt(&Password::empty(), &other).is_err());
    }
}
