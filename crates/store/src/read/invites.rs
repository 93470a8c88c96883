//! What the invite page reads: the invite a token leads to (by the token's
//! hash, current or superseded; see the migration) with the state the read
//! model has for it.
use ledger_ports::{InviteState, InviteTokenView};
use sqlx::{PgPool, Row};

use crate::error::{Error, Result};

// `requested` until the projector has the invite (the mailer makes the token
// only after the request is projected, so that is a rare race).
const BY_TOKEN_HASH: &str = "SELECT t.tenant_id, t.invite_id, t.contact_id, t.expires_at, \
     coalesce(i.state, 'requested') AS state \
     FROM invite_tokens t LEFT JOIN contact_invites i ON i.tenant_id = t.tenant_id AND i.invite_id = t.invite_id \
     WHERE t.token_hash = $1 OR t.superseded_hashes @> ARRAY[$1]";

fn corrupt(reason: impl ToString) -> Error {
    Error::corrupt("invite_tokens", reason)
}

pub(crate) fn parse_state(s: &str) -> Result<InviteState> {
    match s {
        "requested" => Ok(InviteState::Requested),
        "sent" => Ok(InviteState::Sent),
        "failed" => Ok(InviteState::Failed),
        "accepted" => Ok(InviteState::Accepted),
        "superseded" => Ok(InviteState::Superseded),
        other => Err(Error::corrupt("contact_invites", format!("state {other:?}"))),
    }
}

pub(crate) async fn by_token_hash(pool: &PgPool, token_hash: &str) -> Result<Option<InviteTokenView>> {
    let row = sqlx::query(BY_TOKEN_HASH).bind(token_hash).fetch_optional(pool).await?;
    let Some(row) = row else { return Ok(None) };
    let text = |col: &str| row.try_get::<String, _>(col);
    Ok(Some(InviteTokenView {
        tenant_id: text("tenant_id")?.parse().map_err(corrupt)?,
        invite_id: text("invite_id")?.parse().map_err(corrupt)?,
        contact_id: text("contact_id")?.parse().map_err(corrupt)?,
        expires_at: row.try_get("expires_at")?,
        state: parse_state(&text("state")?)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_the_api_spells_it() {
        for state in [
            InviteState::Requested,
            InviteState::Sent,
            InviteState::Failed,
            InviteState::Accepted,
            InviteState::Superseded,
        ] {
            let word = serde_json::to_value(state).unwrap();
            assert_eq!(parse_state(word.as_str().unwrap()).unwrap(), state);
        }
        assert!(parse_state("pending").is_err());
    }
}
