//! Turning Rust values and promises into task arguments.
//!
//! A call's arguments are a tuple whose items may be plain serializable values
//! (become `{value}`), promises (`{promise}`), no-wait promises, or collections
//! holding promises (`{array}`): `(1, &p, vec![p1, p2], p3.no_wait())`. One blanket
//! impl over `Serialize` covers all of these: promises serialize as markers (see the
//! `marker` module), which the conversion turns back into promise arguments.

use crate::{marker, Error, Result};
use serde::Serialize;
use suslik_broker::model::Arg;

/// One task argument: any `Serialize` value, possibly holding promises in arrays.
pub trait IntoArg {
    /// Converts to the wire form. Fails for values that cannot be serialized, for
    /// promises that resolved with an error (an error has no value to pass on), and
    /// for promises nested inside objects (the wire nests promises in arrays only).
    fn into_arg(self) -> Result<Arg>;
}

/// A whole argument list: `()`, a tuple of up to 12 [`IntoArg`] items, or a
/// `Vec<Arg>` built by hand.
pub trait IntoArgs {
    /// Converts to the wire form.
    fn into_args(self) -> Result<Vec<Arg>>;
}

/// An argument already in wire form, passed through unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawArg(pub Arg);

impl<T: Serialize> IntoArg for T {
    fn into_arg(self) -> Result<Arg> {
        let value = serde_json::to_value(&self)?;
        marker::to_arg(value).map_err(Error::Invalid)
    }
}

impl IntoArg for RawArg {
    fn into_arg(self) -> Result<Arg> {
        Ok(self.0)
    }
}

impl IntoArgs for () {
    fn into_args(self) -> Result<Vec<Arg>> {
        Ok(Vec::new())
    }
}

impl IntoArgs for Vec<Arg> {
    fn into_args(self) -> Result<Vec<Arg>> {
        Ok(self)
    }
}

macro_rules! tuple_args {
    ($($name:ident),+) => {
        impl<$($name: IntoArg),+> IntoArgs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_args(self) -> Result<Vec<Arg>> {
                let ($($name,)+) = self;
                Ok(vec![$($name.into_arg()?),+])
            }
        }
    };
}

tuple_args!(A);
tuple_args!(A, B);
tuple_args!(A, B, C);
tuple_args!(A, B, C, D);
tuple_args!(A, B, C, D, E);
tuple_args!(A, B, C, D, E, F);
tuple_args!(A, B, C, D, E, F, G);
tuple_args!(A, B, C, D, E, F, G, H);
tuple_args!(A, B, C, D, E, F, G, H, I);
tuple_args!(A, B, C, D, E, F, G, H, I, J);
tuple_args!(A, B, C, D, E, F, G, H, I, J, K);
tuple_args!(A, B, C, D, E, F, G, H, I, J, K, L);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Promise;
    use suslik_broker::model::{ErrorInfo, JsonValue, TaskId};

    #[test]
    fn values_promises_arrays_and_no_wait() {
        let (a, b) = (TaskId::random(), TaskId::random());
        let pa: Promise<i64> = Promise::pending(a);
        let pb: Promise<i64> = Promise::pending(b);
        let args = (
            "x",
            &pa,
            vec![pa.clone(), pb.clone()],
            pb.no_wait(),
            Promise::ready(3),
            vec![pa.no_wait()],
        )
            .into_args()
            .expect("converts");
        assert_eq!(
            args[0],
            Arg::Value(JsonValue::from_text("\"x\"").expect("json"))
        );
        assert_eq!(
            args[1],
            Arg::Promise {
                task_id: a,
                no_wait: false
            }
        );
        assert_eq!(
            args[2],
            Arg::Array(vec![
                Arg::Promise {
                    task_id: a,
                    no_wait: false
                },
                Arg::Promise {
                    task_id: b,
                    no_wait: false
                },
            ])
        );
        assert_eq!(
            args[3],
            Arg::Promise {
                task_id: b,
                no_wait: true
            }
        );
        assert_eq!(
            args[4],
            Arg::Value(JsonValue::from_text("3").expect("json"))
        );
        assert_eq!(
            args[5],
            Arg::Array(vec![Arg::Promise {
                task_id: a,
                no_wait: true
            }])
        );
    }

    #[test]
    fn failed_promises_are_not_arguments() {
        let p: Promise<i64> = Promise::failed(ErrorInfo::new("x", "y"));
        assert!(matches!((p,).into_args(), Err(Error::Invalid(_))));
    }
}
