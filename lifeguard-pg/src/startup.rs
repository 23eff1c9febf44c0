//! The startup handshake: StartupMessage, authentication (trust, cleartext password,
//! MD5, SCRAM-SHA-256 through postgres-protocol's helpers, and over TLS
//! SCRAM-SHA-256-PLUS, bound to the session by `tls-server-end-point`), then the
//! server's parameters and cancel key, up to the first ReadyForQuery.
//!
//! With `channel_binding=require` only SCRAM-SHA-256-PLUS logs in: a server that skips
//! authentication, asks for a password in clear or MD5, or offers SCRAM without PLUS
//! is refused before any password leaves.

use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{self, ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::config::{ChannelBinding as Binding, Config};
use crate::error::{DbError, Error};
use crate::socket::Stream;
use crate::wire::Wire;

/// The backend's identity, used to cancel its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendKey {
    pub process_id: i32,
    pub secret_key: i32,
}

/// Runs the handshake on a fresh stream.
pub(crate) fn handshake<S: Stream>(
    wire: &mut Wire<S>,
    config: &Config,
) -> Result<BackendKey, Error> {
    let user = config.user_or_default();
    let dbname = config.dbname_or_default();
    let mut params: Vec<(&str, &str)> = vec![
        ("user", &user),
        ("database", &dbname),
        ("client_encoding", "UTF8"),
    ];
    if let Some(app) = config.get_application_name() {
        params.push(("application_name", app));
    }
    if let Some(options) = config.get_options() {
        params.push(("options", options));
    }
    frontend::startup_message(params.iter().copied(), &mut wire.wbuf)
        .map_err(|e| Error::config(format!("startup parameters too large: {e}")))?;
    wire.flush()?;

    authenticate(wire, config, &user)?;

    let mut key = None;
    loop {
        let message = wire.read_any()?;
        match wire.divert(message)? {
            None => {}
            Some(Message::BackendKeyData(body)) => {
                key = Some(BackendKey {
                    process_id: body.process_id(),
                    secret_key: body.secret_key(),
                })
            }
            Some(Message::ReadyForQuery(_)) => break,
            Some(Message::ErrorResponse(body)) => {
                return Err(Error::Db(Box::new(DbError::parse(&mut body.fields())?)));
            }
            Some(_) => return Err(Error::protocol("unexpected message during startup")),
        }
    }
    key.ok_or_else(|| Error::protocol("the server sent no BackendKeyData"))
}

fn authenticate<S: Stream>(wire: &mut Wire<S>, config: &Config, user: &str) -> Result<(), Error> {
    let mut scram: Option<ScramSha256> = None;
    let binding = config.get_channel_binding();
    let end_point = match binding {
        Binding::Disable => None,
        Binding::Prefer | Binding::Require => wire.stream.tls_server_end_point(),
    };
    if binding == Binding::Require && end_point.is_none() {
        return Err(Error::Authentication(
            "channel_binding=require needs TLS (sslmode=require or stricter): without it \
             there is no session to bind the login to"
                .into(),
        ));
    }
    let refuse_unbound = |what: &str| -> Result<(), Error> {
        if binding == Binding::Require {
            return Err(Error::Authentication(format!(
                "channel_binding=require, and the server {what} instead of \
                 SCRAM-SHA-256-PLUS: refused (a server in the middle could be downgrading \
                 the login); check the server's pg_hba.conf method (scram-sha-256) and that \
                 the role's password is stored as SCRAM"
            )));
        }
        Ok(())
    };
    loop {
        match wire.read_any()? {
            Message::AuthenticationOk if scram.is_none() => {
                refuse_unbound("let the login in without authentication")?;
                return Ok(());
            }
            Message::AuthenticationOk => return Ok(()),
            Message::AuthenticationCleartextPassword => {
                refuse_unbound("asked for the password in clear")?;
                let password = password(config)?;
                frontend::password_message(password, &mut wire.wbuf).map_err(Error::Io)?;
                wire.flush()?;
            }
            Message::AuthenticationMd5Password(body) => {
                refuse_unbound("asked for an MD5 password")?;
                let hashed = md5_hash(user.as_bytes(), password(config)?, body.salt());
                frontend::password_message(hashed.as_bytes(), &mut wire.wbuf).map_err(Error::Io)?;
                wire.flush()?;
            }
            Message::AuthenticationSasl(body) => {
                let mut offered = Vec::new();
                let mut mechanisms = body.mechanisms();
                while let Some(m) = fallible_iterator::FallibleIterator::next(&mut mechanisms)
                    .map_err(|e| Error::protocol(format!("malformed SASL mechanisms: {e}")))?
                {
                    offered.push(m.to_owned());
                }
                let plus = offered.iter().any(|m| m == sasl::SCRAM_SHA_256_PLUS);
                if !plus && !offered.iter().any(|m| m == sasl::SCRAM_SHA_256) {
                    return Err(Error::Authentication(format!(
                        "the server offers SASL mechanisms {offered:?}; only SCRAM-SHA-256 \
                         and SCRAM-SHA-256-PLUS are supported"
                    )));
                }
                let (mechanism, channel) = match (&end_point, plus) {
                    (Some(hash), true) => (
                        sasl::SCRAM_SHA_256_PLUS,
                        ChannelBinding::tls_server_end_point(hash.clone()),
                    ),
                    (Some(_), false) => {
                        refuse_unbound("offered SCRAM-SHA-256 without PLUS")?;
                        // Over TLS: "y", so a server that does offer PLUS sees the downgrade.
                        (sasl::SCRAM_SHA_256, ChannelBinding::unrequested())
                    }
                    (None, _) => (sasl::SCRAM_SHA_256, ChannelBinding::unsupported()),
                };
                let state = ScramSha256::new(password(config)?, channel);
                frontend::sasl_initial_response(mechanism, state.message(), &mut wire.wbuf)
                    .map_err(Error::Io)?;
                wire.flush()?;
                scram = Some(state);
            }
            Message::AuthenticationSaslContinue(body) => {
                let state = scram
                    .as_mut()
                    .ok_or_else(|| Error::protocol("SASLContinue before SASL started"))?;
                state
                    .update(body.data())
                    .map_err(|e| Error::Authentication(format!("SCRAM exchange failed: {e}")))?;
                frontend::sasl_response(state.message(), &mut wire.wbuf).map_err(Error::Io)?;
                wire.flush()?;
            }
            Message::AuthenticationSaslFinal(body) => {
                let state = scram
                    .as_mut()
                    .ok_or_else(|| Error::protocol("SASLFinal before SASL started"))?;
                state.finish(body.data()).map_err(|e| {
                    Error::Authentication(format!("the server's SCRAM signature is invalid: {e}"))
                })?;
            }
            Message::AuthenticationKerberosV5
            | Message::AuthenticationScmCredential
            | Message::AuthenticationGss
            | Message::AuthenticationSspi => {
                return Err(Error::Authentication(
                    "the server asks for Kerberos, GSS, SSPI or SCM credentials, which this client does not support"
                        .into(),
                ));
            }
            Message::ErrorResponse(body) => {
                let db = DbError::parse(&mut body.fields())?;
                // 28000 invalid_authorization_specification, 28P01 invalid_password.
                return Err(if db.code.starts_with("28") {
                    Error::Authentication(format!("{} (SQLSTATE {})", db.message, db.code))
                } else {
                    Error::Db(Box::new(db))
                });
            }
            Message::NoticeResponse(_) | Message::ParameterStatus(_) => {}
            _ => return Err(Error::protocol("unexpected message during authentication")),
        }
    }
}

fn password(config: &Config) -> Result<&[u8], Error> {
    config.get_password().ok_or_else(|| {
        Error::Authentication("the server asks for a password, but none was configured".into())
    })
}
