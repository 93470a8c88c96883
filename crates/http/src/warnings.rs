//! Warnings: a successful write that did less than the body asked for says
//! so in a `warnings` list next to the data. The domain decides them
//! (`ledger_domain::warning`) and the decision record carries them; this
//! only puts them in the body.
use ledger_domain::Warning;
use serde_json::{Value, json};

use crate::problem::Reply;

/// Adds the decision's `warnings` to an object body; none leave the reply as it is.
pub fn attach(mut reply: Reply, warnings: &[Warning]) -> Reply {
    if let (false, Value::Object(body)) = (warnings.is_empty(), &mut reply.body) {
        body.insert("warnings".into(), json!(warnings));
    }
    reply
}
