//! Naming an actor: `"calc#1"` or an [`ActorId`] alike.
//!
//! Actor ids are usually string constants in user code; accepting them directly (and
//! validating once, where they enter the SDK) keeps call sites short without giving up
//! the broker's `name#version` check.

use suslik_broker::model::{ActorId, IdError};

/// Anything that names an actor: `&str`, `String`, [`ActorId`] or `&ActorId`.
pub trait IntoActorId {
    /// Validates and converts to an [`ActorId`].
    fn into_actor_id(self) -> Result<ActorId, IdError>;
}

impl IntoActorId for ActorId {
    fn into_actor_id(self) -> Result<ActorId, IdError> {
        Ok(self)
    }
}

impl IntoActorId for &ActorId {
    fn into_actor_id(self) -> Result<ActorId, IdError> {
        Ok(self.clone())
    }
}

impl IntoActorId for &str {
    fn into_actor_id(self) -> Result<ActorId, IdError> {
        ActorId::new(self)
    }
}

impl IntoActorId for String {
    fn into_actor_id(self) -> Result<ActorId, IdError> {
        ActorId::new(&self)
    }
}

impl IntoActorId for &String {
    fn into_actor_id(self) -> Result<ActorId, IdError> {
        ActorId::new(self)
    }
}
