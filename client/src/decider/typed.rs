//! Building a [`Decider`] from typed async closures.
//!
//! Each method is a closure `|ctx: DeciderContext, args: A| async move { … }` whose
//! future yields `Result<R, TaskError>` with `R` a value or a [`Promise`]
//! ([`IntoDeciderOutput`]). As for workers, closures are stored type-erased by method
//! name, and the context is passed by value (it is a shared handle), which keeps the
//! futures `'static`.

use super::{Decider, DeciderContext, DeciderOutput, IntoDeciderOutput, RetryPolicies};
use crate::task_error::UNKNOWN_METHOD;
use crate::{Args, Error, IntoActorId, Result, TaskError};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use suslik_broker::model::{ActorId, RetryPolicy};

#[cfg(doc)]
use crate::Promise;

type Handler = Arc<
    dyn Fn(DeciderContext, Args) -> BoxFuture<'static, Result<DeciderOutput, TaskError>>
        + Send
        + Sync,
>;

/// Collects typed decider methods into a [`TypedDecider`].
///
/// ```
/// use suslik_client::{CallOptions, DeciderBuilder, DeciderContext, Promise};
///
/// let hello = DeciderBuilder::new("hello#1")
///     .method("start", |ctx: DeciderContext, name: String| async move {
///         let greeting: Promise<String> =
///             ctx.call("greeter#1", "greet", (name,), CallOptions::new());
///         Ok(greeting)
///     })
///     .build()
///     .expect("valid actor id");
/// ```
pub struct DeciderBuilder {
    actor: Result<ActorId>,
    methods: HashMap<String, Handler>,
    retry_policies: RetryPolicies,
    bad_retry_actor: Option<Error>,
}

impl DeciderBuilder {
    /// Starts a decider for actor `name#version`. A malformed id is reported by
    /// [`build`](Self::build).
    pub fn new(actor: impl IntoActorId) -> Self {
        DeciderBuilder {
            actor: actor.into_actor_id().map_err(Error::from),
            methods: HashMap::new(),
            retry_policies: RetryPolicies::default(),
            bad_retry_actor: None,
        }
    }

    /// Declares the retry policy of every call this decider makes to `actor`'s
    /// `method` (unless the call's own [`crate::CallOptions::retry`] says otherwise).
    pub fn retry_policy(
        mut self,
        actor: impl IntoActorId,
        method: &str,
        policy: RetryPolicy,
    ) -> Self {
        match actor.into_actor_id() {
            Ok(a) => self.retry_policies.set(a, method, policy),
            Err(e) => self.bad_retry_actor = Some(Error::from(e)),
        }
        self
    }

    /// Adds method `name`, taking the context and its decoded arguments `A`
    /// (resolved promises decode into [`Promise`] parameters).
    pub fn method<A, R, F, Fut>(mut self, name: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: IntoDeciderOutput,
        F: Fn(DeciderContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ctx: DeciderContext, args: Args| {
            let fut = args.decode::<A>().map(|a| f(ctx, a));
            Box::pin(async move { fut?.await?.into_output() })
        });
        self.methods.insert(name.to_string(), handler);
        self
    }

    /// The decider, or the error of a malformed actor id.
    pub fn build(self) -> Result<TypedDecider> {
        if let Some(e) = self.bad_retry_actor {
            return Err(e);
        }
        Ok(TypedDecider {
            actor: self.actor?,
            methods: self.methods,
            retry_policies: (!self.retry_policies.is_empty())
                .then(|| Arc::new(self.retry_policies)),
        })
    }
}

/// A [`Decider`] made of typed closures by [`DeciderBuilder`].
pub struct TypedDecider {
    actor: ActorId,
    methods: HashMap<String, Handler>,
    retry_policies: Option<Arc<RetryPolicies>>,
}

impl TypedDecider {
    /// The method names it serves.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }
}

impl Decider for TypedDecider {
    fn actor_id(&self) -> ActorId {
        self.actor.clone()
    }

    fn retry_policies(&self) -> Option<Arc<RetryPolicies>> {
        self.retry_policies.clone()
    }

    fn decide<'a>(
        &'a self,
        ctx: DeciderContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<DeciderOutput, TaskError>> {
        match self.methods.get(method) {
            Some(h) => h(ctx, args),
            None => {
                let err = TaskError::new(
                    UNKNOWN_METHOD,
                    format!("decider {} has no method {method:?}", self.actor),
                );
                Box::pin(async move { Err(err) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallOptions, Promise, TaskContext};
    use suslik_broker::model::{ErrorInfo, JsonValue, Outcome, ResolvedArg, TaskKind};

    fn decider() -> TypedDecider {
        DeciderBuilder::new("sum#1")
            .method(
                "start",
                |ctx: DeciderContext, (a, b): (i64, i64)| async move {
                    let x: Promise<i64> = ctx.call("calc#1", "add", (a, b), CallOptions::new());
                    let y: Promise<i64> = ctx.call(
                        "calc#1",
                        "add",
                        (&x, 1),
                        CallOptions::new().accept_fail("calc"),
                    );
                    Ok(ctx.call_self::<i64>("finish", (&x, &y)))
                },
            )
            .method(
                "finish",
                |_ctx: DeciderContext, (x, y): (Promise<i64>, Promise<i64>)| async move {
                    if y.has_fail() {
                        return Ok(-1);
                    }
                    Ok(x.get()? + y.get()?)
                },
            )
            .build()
            .expect("valid")
    }

    async fn run(
        d: &TypedDecider,
        method: &str,
        args: Vec<ResolvedArg>,
    ) -> suslik_broker::model::Decision {
        let ctx = DeciderContext::new(TaskContext::for_test(
            d.actor_id(),
            method,
            TaskKind::Decider,
        ));
        let reply = d.decide(ctx.clone(), method, Args::new(args)).await;
        ctx.into_decision(reply, None)
    }

    fn val(t: &str) -> ResolvedArg {
        ResolvedArg::Value(JsonValue::from_text(t).expect("json"))
    }

    #[tokio::test]
    async fn start_returns_the_promise_of_its_continuation() {
        let d = decider();
        let decision = run(&d, "start", vec![val("1"), val("2")]).await;
        assert_eq!(decision.tasks.len(), 3);
        assert_eq!(
            decision.tasks[1].options.accept_fail,
            vec!["calc".to_string()]
        );
        assert_eq!(
            decision.outcome,
            Outcome::Promise(decision.tasks[2].task_id)
        );
    }

    #[tokio::test]
    async fn the_continuation_sees_values_and_accepted_fails() {
        let d = decider();
        let ok = run(&d, "finish", vec![val("3"), val("4")]).await;
        assert_eq!(
            ok.outcome,
            Outcome::Value(JsonValue::from_text("7").expect("json"))
        );
        let failed = run(
            &d,
            "finish",
            vec![
                val("3"),
                ResolvedArg::Error(ErrorInfo::new("calc.Overflow", "big")),
            ],
        )
        .await;
        assert_eq!(
            failed.outcome,
            Outcome::Value(JsonValue::from_text("-1").expect("json"))
        );
        let unknown = run(&d, "nope", vec![]).await;
        assert!(matches!(unknown.outcome, Outcome::Error(ref e) if e.error_type == UNKNOWN_METHOD));
    }

    #[tokio::test]
    async fn a_retry_policy_declared_per_called_method_applies_unless_the_call_names_one() {
        let declared = RetryPolicy {
            max_attempts: 7,
            ..RetryPolicy::default()
        };
        let own = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let own_in_call = own.clone();
        let d = DeciderBuilder::new("shop#1")
            .retry_policy("pay#1", "charge", declared.clone())
            .method("start", move |ctx: DeciderContext, (): ()| {
                let own = own_in_call.clone();
                async move {
                    let _: Promise<i64> = ctx.call("pay#1", "charge", (), CallOptions::new());
                    let _: Promise<i64> =
                        ctx.call("pay#1", "charge", (), CallOptions::new().retry(own));
                    let _: Promise<i64> = ctx.call("pay#1", "refund", (), CallOptions::new());
                    Ok(0i64)
                }
            })
            .build()
            .expect("valid");
        let ctx = DeciderContext::new(TaskContext::for_test(
            d.actor_id(),
            "start",
            TaskKind::DeciderStart,
        ))
        .with_retry_policies(d.retry_policies());
        let reply = d.decide(ctx.clone(), "start", Args::new(vec![])).await;
        let decision = ctx.into_decision(reply, None);
        let retries: Vec<Option<RetryPolicy>> = decision
            .tasks
            .iter()
            .map(|t| t.options.retry.clone())
            .collect();
        assert_eq!(retries, vec![Some(declared), Some(own), None]);
        assert!(DeciderBuilder::new("shop#1")
            .retry_policy("no-version", "m", RetryPolicy::default())
            .build()
            .is_err());
    }
}
