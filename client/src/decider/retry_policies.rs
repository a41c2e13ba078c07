//! Retry policies declared once per called actor method (Taskurotta's `@LinearRetry`
//! / `@ExponentialRetry` on a client interface), instead of on every call.

use std::collections::HashMap;
use suslik_broker::model::{ActorId, RetryPolicy};

/// Which retry policy a call of `(actor, method)` gets when its [`crate::CallOptions`]
/// name none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryPolicies {
    by_method: HashMap<(ActorId, String), RetryPolicy>,
}

impl RetryPolicies {
    /// Declares the policy of calls to `actor`'s `method`.
    pub fn set(&mut self, actor: ActorId, method: &str, policy: RetryPolicy) {
        self.by_method.insert((actor, method.to_string()), policy);
    }

    /// The declared policy of `actor`'s `method`, if any.
    pub fn get(&self, actor: &ActorId, method: &str) -> Option<&RetryPolicy> {
        self.by_method.get(&(actor.clone(), method.to_string()))
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.by_method.is_empty()
    }
}
