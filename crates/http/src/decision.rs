//! Publishing a command and waiting for its decision. The API never decides
//! anything itself: it publishes, then reads back what the command handler
//! decided (as the projector recorded it) and turns a rejection into the
//! matching problem.
use axum::http::header;
use ledger_domain::Code;
use ledger_domain::{Command, CommandId, FieldError, Rejection, TenantId};
use ledger_ports::{
    CommandStatus, CommandView,
    stages::{self, Stage},
};
use ledger_protocol::CommandEnvelope;

use crate::{idempotency::Slot, problem::Problem, state::AppState};

/// Remembers and publishes the command; returns once the broker has it.
/// For an asynchronous write (202): the client polls the id at once, so the
/// submitted-command row is written first and "pending" is what it sees.
pub async fn publish(state: &AppState, envelope: &CommandEnvelope) -> Result<(), Problem> {
    record_submitted(state, envelope.tenant_id, envelope.command_id).await?;
    submit(state, envelope).await
}

async fn record_submitted(state: &AppState, tenant: TenantId, id: CommandId) -> Result<(), Problem> {
    let started = std::time::Instant::now();
    state.port("record_submitted", state.commands().record_submitted(tenant, id)).await?;
    stages::record(Stage::ApiRecordSubmitted, started.elapsed());
    Ok(())
}

async fn submit(state: &AppState, envelope: &CommandEnvelope) -> Result<(), Problem> {
    let started = std::time::Instant::now();
    state.port("submit", state.bus().submit(envelope)).await?;
    stages::record(Stage::ApiProduce, started.elapsed());
    state.metrics().command_submitted(envelope.command.command_type());
    Ok(())
}

/// Publishes and waits for the decision: the accepted view, or the
/// rejection as a problem, or a 503 naming the command when it takes longer
/// than `decision_timeout`.
///
/// The submitted-command row (what makes a poll answer "pending" rather than
/// "not found") is written only when the wait times out, just before the 503
/// that gives the client the id to poll: a client learns the id no other
/// way, so the write every create used to wait on is not needed for the
/// others.
pub async fn decide(state: &AppState, tenant: TenantId, slot: Slot, command: Command) -> Result<CommandView, Problem> {
    let envelope =
        CommandEnvelope { command_id: slot.command_id, tenant_id: tenant, issued_at: slot.issued_at, command };
    submit(state, &envelope).await?;
    let wait = state.config().decision_timeout;
    let bound = wait.saturating_add(state.config().port_timeout);
    let started = std::time::Instant::now();
    let waited = state.commands().wait_for_command(tenant, slot.command_id, wait);
    let waited = state.bounded("wait_for_command", bound, waited).await?;
    stages::record(Stage::ApiWaitDecision, started.elapsed());
    match waited {
        None => {
            record_submitted(state, tenant, slot.command_id).await?;
            Err(pending(slot.command_id))
        }
        Some(view) if view.status == CommandStatus::Rejected => Err(rejected(&view)),
        Some(view) => Ok(view),
    }
}

fn pending(id: CommandId) -> Problem {
    Problem::new(Code::DecisionPending, "the command was published but not decided in time; poll its status")
        .extension("command_id", id.to_string())
        .extension("status_url", format!("/v1/commands/{id}"))
        .header(header::RETRY_AFTER, "1")
}

/// The problem for a rejected command's stored rejection.
pub fn rejected(view: &CommandView) -> Problem {
    match &view.rejection {
        Some(rejection) => rejection_problem(rejection),
        None => Problem::internal(format_args!("command {} rejected without a rejection", view.command_id)),
    }
}

/// A rejection answers with its code, whose status and title are the
/// code table's (`codes::meta`): there is no second mapping by kind.
pub fn rejection_problem(rejection: &Rejection) -> Problem {
    match rejection {
        Rejection::Validation { errors } => Problem::validation(errors.clone()),
        Rejection::Conflict { code, field, message } => {
            let problem = Problem::new(*code, message.clone());
            match field {
                Some(field) => {
                    problem.with_errors(vec![FieldError::new(field.clone(), code.as_str(), message.clone())])
                }
                None => problem,
            }
        }
        Rejection::NotFound { code, message }
        | Rejection::Forbidden { code, message }
        | Rejection::Gone { code, message } => Problem::new(*code, message.clone()),
        Rejection::VersionMismatch { expected, actual } => Problem::new(Code::VersionMismatch, rejection.to_string())
            .extension("expected_version", *expected)
            .extension("current_version", *actual),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_kind_maps_to_its_status_and_keeps_its_code() {
        let cases = [
            (Rejection::invalid(vec![FieldError::new("email", "invalid_email", "bad")]), 422, "validation_failed"),
            (Rejection::conflict(Code::EmailTaken, "email", "taken"), 409, "email_taken"),
            (Rejection::not_found(Code::ContactNotFound, "no"), 404, "contact_not_found"),
            (Rejection::VersionMismatch { expected: 1, actual: 2 }, 412, "version_mismatch"),
            (
                Rejection::Forbidden { code: Code::ContactCaptureDisabled, message: "off".into() },
                403,
                "contact_capture_disabled",
            ),
            (Rejection::Conflict { code: Code::RoleExists, field: None, message: "x".into() }, 409, "role_exists"),
            (Rejection::Gone { code: Code::InviteUsed, message: "used".into() }, 410, "invite_used"),
            (Rejection::Gone { code: Code::InviteExpired, message: "late".into() }, 410, "invite_expired"),
        ];
        for (rejection, status, code) in cases {
            let p = rejection_problem(&rejection).to_json();
            assert_eq!((p["status"].as_u64(), p["code"].as_str()), (Some(status), Some(code)), "{rejection:?}");
        }
    }
}
