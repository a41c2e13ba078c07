//! [`Registry`]: the actors a container can run, by id.
//!
//! A config only names actors; code implements them. The registry is the bridge:
//! the binary fills it with the actors compiled into it (the recipes and the built-in
//! diagnostics), an embedding application with its own, and the config is checked
//! against it before anything starts, so an unknown id is a config error rather than
//! a poller that never finds work.

use std::collections::BTreeMap;
use std::sync::Arc;
use suslik_client::{Actor, ActorId, Decider, Worker};

/// An actor id registered twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("actor {0} is registered twice")]
pub struct DuplicateActor(pub ActorId);

/// Available workers and deciders by actor id.
#[derive(Clone, Default)]
pub struct Registry {
    actors: BTreeMap<ActorId, Actor>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.actors.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry of these workers and deciders.
    pub fn from_actors(
        workers: impl IntoIterator<Item = Arc<dyn Worker>>,
        deciders: impl IntoIterator<Item = Arc<dyn Decider>>,
    ) -> Result<Self, DuplicateActor> {
        let mut r = Registry::new();
        for w in workers {
            r.register(Actor::Worker(w))?;
        }
        for d in deciders {
            r.register(Actor::Decider(d))?;
        }
        Ok(r)
    }

    /// Adds an actor; an id may be registered once.
    pub fn register(&mut self, actor: Actor) -> Result<(), DuplicateActor> {
        let id = actor.actor_id();
        if self.actors.contains_key(&id) {
            return Err(DuplicateActor(id));
        }
        self.actors.insert(id, actor);
        Ok(())
    }

    /// Adds every actor of `other`.
    pub fn merge(&mut self, other: Registry) -> Result<(), DuplicateActor> {
        for (_, actor) in other.actors {
            self.register(actor)?;
        }
        Ok(())
    }

    /// The actor with this id.
    pub fn get(&self, id: &ActorId) -> Option<&Actor> {
        self.actors.get(id)
    }

    /// Registered ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &ActorId> {
        self.actors.keys()
    }

    /// Registered actors, sorted by id.
    pub fn actors(&self) -> impl Iterator<Item = &Actor> {
        self.actors.values()
    }

    /// Number of actors.
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suslik_client::WorkerBuilder;

    fn worker(id: &str) -> Arc<dyn Worker> {
        Arc::new(WorkerBuilder::new(id).build().expect("valid id"))
    }

    #[test]
    fn lookups_and_duplicates() {
        let r = Registry::from_actors([worker("b#1"), worker("a#1")], []).expect("distinct");
        let ids: Vec<String> = r.ids().map(ToString::to_string).collect();
        assert_eq!(ids, ["a#1", "b#1"]);
        assert!(r.get(&ActorId::new("a#1").expect("valid")).is_some());
        assert!(r.get(&ActorId::new("c#1").expect("valid")).is_none());

        let dup = Registry::from_actors([worker("a#1"), worker("a#1")], []).expect_err("dup");
        assert_eq!(dup.to_string(), "actor a#1 is registered twice");
    }
}
