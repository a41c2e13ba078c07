//! Calling recipe deciders directly in unit tests, without a broker: the decision
//! they would release, with the tasks they recorded.

use serde::Serialize;
use std::sync::Arc;
use suslik_broker::model::{Decision, JsonValue, ResolvedArg};
use suslik_client::{Args, Decider, DeciderContext, TaskContext, TaskKind};

/// One argument, as a poll would deliver it.
pub(crate) fn value<T: Serialize>(v: &T) -> ResolvedArg {
    match JsonValue::from_serialize(v) {
        Ok(json) => ResolvedArg::Value(json),
        Err(e) => panic!("test argument does not serialize: {e}"),
    }
}

/// The decision `decider` releases for `method(args)`.
pub(crate) async fn decide(
    decider: &Arc<dyn Decider>,
    method: &str,
    args: Vec<ResolvedArg>,
) -> Decision {
    let task = TaskContext::for_test(decider.actor_id(), method, TaskKind::Decider);
    let ctx = DeciderContext::new(task);
    let reply = decider.decide(ctx.clone(), method, Args::new(args)).await;
    ctx.into_decision(reply, None)
}
